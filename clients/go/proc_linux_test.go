package tessera_test

import "syscall"

// serverProcAttr puts the server in its own process group (so a stuck one can be killed with its
// PostgreSQL) and has the kernel stop it if this test process dies without cleaning up.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
