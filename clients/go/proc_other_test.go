//go:build !linux

package tessera_test

import "syscall"

// serverProcAttr puts the server in its own process group, so a stuck one can be killed with its
// PostgreSQL.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
