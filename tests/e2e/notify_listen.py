#!/usr/bin/env python3
"""Stand in for systemd's notification socket in e2e tests.

    notify_listen.py SOCKET OUTFILE [--timeout SEC]

Binds an AF_UNIX datagram socket at SOCKET ("/path", or "@name" for the
abstract namespace, as NOTIFY_SOCKET spells it), then appends every datagram
it receives to OUTFILE: a line "# pid=PID" with the sender's pid (from
SCM_CREDENTIALS), then one line per "KEY=VALUE" assignment. OUTFILE is
created empty once the socket is bound, so a test polls for it before
starting the daemon. Exits on SIGTERM/SIGINT or after --timeout seconds
(default 120) so a failed test never leaves it behind.
"""

import os
import signal
import socket
import struct
import sys
import time


def main():
    args = sys.argv[1:]
    timeout = 120.0
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    path, outfile = args

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    addr = "\0" + path[1:] if path.startswith("@") else path
    sock.bind(addr)

    # create OUTFILE only now: its existence means "listening"
    tmp = outfile + ".tmp"
    open(tmp, "w").close()
    os.rename(tmp, outfile)

    deadline = time.monotonic() + timeout
    creds_len = socket.CMSG_LEN(struct.calcsize("3i"))
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        sock.settimeout(left)
        try:
            data, anc, _, _ = sock.recvmsg(65536, creds_len)
        except socket.timeout:
            return 0
        pid = "?"
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = str(struct.unpack("3i", cdata[:12])[0])
        text = data.decode("utf-8", "backslashreplace")
        with open(outfile, "a") as f:
            f.write("# pid=%s\n" % pid)
            for line in text.split("\n"):
                if line:
                    f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
