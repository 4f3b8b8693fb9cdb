#!/usr/bin/python3
# agent-answer USER PASSWORD READY-FILE PID
#
# The person at the terminal, for the lab: runs polkit's text agent as USER for the
# process PID (`pkttyagent --process PID`, as systemctl runs it for itself), on a
# terminal of its own (a pty: pkttyagent reads the password from its controlling
# terminal), and types PASSWORD when the agent asks for one. Touches READY-FILE
# once the agent has registered with polkit (--notify-fd), prints what the agent
# printed, and ends when the agent does, or after 180 s (then it kills the agent).
import os
import pty
import pwd
import select
import signal
import sys
import termios
import time

user, password, ready, pid_arg = sys.argv[1:5]
pw = pwd.getpwnam(user)
notify_r, notify_w = os.pipe()

pid, master = pty.fork()
if pid == 0:
    os.initgroups(user, pw.pw_gid)
    os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
    os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    os.close(notify_r)
    os.dup2(notify_w, 3)
    os.execv("/usr/bin/pkttyagent", ["pkttyagent", "--process", pid_arg, "--notify-fd", "3"])

os.close(notify_w)
deadline = time.monotonic() + 180
seen = b""
answered = 0
fds = [master, notify_r]
while fds and time.monotonic() < deadline:
    readable, _, _ = select.select(fds, [], [], 0.05)
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
    # One answer per prompt: the agent prints "Password: " each time it asks, then
    # turns echo off, flushing what was typed before: answer only once echo is off.
    if master in fds and seen.count(b"assword:") > answered:
        try:
            echo = termios.tcgetattr(master)[3] & termios.ECHO
        except termios.error:
            echo = 0
        if not echo:
            answered += 1
            os.write(master, password.encode() + b"\n")
if time.monotonic() >= deadline:
    os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
