#!/usr/bin/env python3
"""Drive tessera-edge-line with nothing but Python's socket module, the way a user's script would.

usage: line_client.py HOST:PORT DEPLOY_TOKEN STAR_TOKEN

Runs the seed walkthrough (a `deploy.` token may SET, GET and QUERY deploy.* but not touch
backup.*; a `*` token sees everything), prints the transcript, and exits non-zero on any surprise.
"""

import socket
import sys

DENIED = "ERROR auth_denied insufficient namespace scope"


class Line:
    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=15)
        self.file = self.sock.makefile("rw", encoding="utf-8", newline="\n")

    def send(self, line: str) -> None:
        print(f"> {line.split(' ')[0] if line.startswith('AUTH') else line}")
        self.file.write(line + "\n")
        self.file.flush()

    def recv(self) -> str:
        line = self.file.readline()
        if not line:
            raise SystemExit("connection closed unexpectedly")
        line = line.rstrip("\r\n")
        print(f"< {line}")
        return line

    def call(self, line: str) -> str:
        self.send(line)
        return self.recv()

    def listing(self, line: str) -> list:
        request_id = line.split()[0]
        self.send(line)
        lines = []
        while True:
            reply = self.recv()
            lines.append(reply)
            # Exactly "<id> OK" ends a list: an item may be named OK.
            if reply in (f"{request_id} OK", f"{request_id} ERROR") or reply.startswith(
                f"{request_id} ERROR "
            ):
                return lines


def expect(got, want) -> None:
    if got != want:
        raise SystemExit(f"expected {want!r}, got {got!r}")


def main() -> None:
    address, deploy_token, star_token = sys.argv[1:4]

    nobody = Line(address)
    expect(nobody.call("1 GET deploy.a"), "ERROR auth_required")
    expect(nobody.file.readline(), "")

    root = Line(address)
    expect(root.call(f"AUTH {star_token}"), "OK")
    expect(root.call("1 SET backup.nightly 1700000000000000000"), "1 OK")

    deploy = Line(address)
    expect(deploy.call(f"AUTH {deploy_token}"), "OK")
    daily = "deploy.daily planned 1901066400000000000"
    expect(deploy.call("1 SET deploy.daily 2030-03-30 02:00:00"), "1 OK")
    expect(deploy.call("2 GET deploy.daily"), "2 OK planned 1901066400000000000")
    expect(deploy.listing("3 QUERY deploy."), [f"3 {daily}", "3 OK"])
    expect(deploy.listing("4 QUERY"), [f"4 {daily}", "4 OK"])
    expect(deploy.call("5 GET backup.nightly"), f"5 {DENIED}")
    expect(deploy.call("6 RULE SET deploy.r backup. shell /bin/true"), f"6 {DENIED}")
    expect(deploy.call('7 "SET" backup.q 1'), f"7 {DENIED}")
    expect(
        root.listing("2 QUERY"),
        ["2 backup.nightly planned 1700000000000000000", f"2 {daily}", "2 OK"],
    )
    print("walkthrough ok")


if __name__ == "__main__":
    main()
