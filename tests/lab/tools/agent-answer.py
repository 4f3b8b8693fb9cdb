#!/usr/bin/python3
# agent-answer CGROUP USER PASSWORD READY-FILE
#
# The person at a desktop, for the lab: runs polkit's text agent (pkttyagent) as USER
# inside the logind session whose scope is the cgroup directory CGROUP, on a terminal
# of its own (a pty, as pkttyagent reads the password from its controlling terminal),
# and types PASSWORD when the agent asks for one. Touches READY-FILE once the agent has
# registered with polkit (--notify-fd), prints what the agent printed, and ends when
# the agent does, or after 180 s (then it kills the agent).
import os
import pty
import pwd
import select
import signal
import sys
import time

cgroup, user, password, ready = sys.argv[1:5]
pw = pwd.getpwnam(user)
notify_r, notify_w = os.pipe()

pid, master = pty.fork()
if pid == 0:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    os.initgroups(user, pw.pw_gid)
    os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
    os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    os.close(notify_r)
    os.dup2(notify_w, 3)
    os.execv("/usr/bin/pkttyagent", ["pkttyagent", "--notify-fd", "3"])

os.close(notify_w)
deadline = time.monotonic() + 180
seen = b""
answered = 0
fds = [master, notify_r]
while fds and time.monotonic() < deadline:
    readable, _, _ = select.select(fds, [], [], 1.0)
    for fd in readable:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if fd == notify_r:
            if not data:  # pkttyagent closes the fd once it is registered
                open(ready, "w").close()
                fds.remove(fd)
            continue
        if not data:
            fds.remove(fd)
            continue
        seen += data
        sys.stdout.write(data.decode(errors="replace"))
        sys.stdout.flush()
        # One answer per prompt: the agent prints "Password: " each time it asks.
        if seen.count(b"assword:") > answered:
            answered += 1
            os.write(master, password.encode() + b"\n")
if time.monotonic() >= deadline:
    os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
