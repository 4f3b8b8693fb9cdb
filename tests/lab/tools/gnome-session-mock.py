'''A STAND-IN for GNOME's session manager (gnome-session), for the lab only.

The lab runs the real gnome-session (scenario gnome). This python3-dbusmock
template is kept for what the real one cannot be made to do: take a Logout
and then never end the session (parameter never_ends). It plays
org.gnome.SessionManager on a user's real session bus, with the calls baton
makes (the API of gnome-session's org.gnome.SessionManager.xml):

  Logout(u mode)          0 normal, 1 no confirmation, 2 forceful (ignores inhibitors)
  IsInhibited(u flags) -> b
  GetInhibitors() -> ao   each an org.gnome.SessionManager.Inhibitor object with
                          GetAppId, GetReason, GetFlags, GetToplevelXid
  Inhibit(s app_id, u toplevel_xid, s reason, u flags) -> u cookie, Uninhibit(u cookie)

A logout ends the "session" the way a real one does, seen from outside: the
apps exit (their app scopes are stopped through the user's real systemd
manager), then the session manager leaves the bus (this process exits). Like
gnome-session's end-session dialog, a logout that is inhibited and not forced
waits for the inhibitors to go; this stand-in then does nothing.

With the parameter never_ends, a Logout is answered and nothing else happens:
the apps keep running and the session manager stays on the bus, the way a
session manager that hangs mid-logout looks from outside.

Run it as the user:
  python3 -m dbusmock --template tests/lab/tools/gnome-session-mock.py -l CALL_LOG \
          [--parameters '{"never_ends": true}']
'''

import os
import subprocess

import dbus

BUS_NAME = 'org.gnome.SessionManager'
MAIN_OBJ = '/org/gnome/SessionManager'
MAIN_IFACE = 'org.gnome.SessionManager'
INHIBITOR_IFACE = 'org.gnome.SessionManager.Inhibitor'
SYSTEM_BUS = False

INHIBIT_LOGOUT = 1
LOGOUT_FORCE = 2
APP_SCOPES = ['app-gnome-*.scope', 'app-flatpak-*.scope', 'app-baton-*.scope']


def load(mock, parameters):
    mock.inhibitors = {}        # cookie -> (path, flags)
    mock.next_cookie = 1
    mock.never_ends = bool(parameters.get('never_ends', False))


@dbus.service.method(MAIN_IFACE, in_signature='susu', out_signature='u')
def Inhibit(self, app_id, toplevel_xid, reason, flags):
    cookie = self.next_cookie
    self.next_cookie += 1
    path = f'{MAIN_OBJ}/Inhibitor{cookie}'
    self.AddObject(path, INHIBITOR_IFACE, {}, [
        ('GetAppId', '', 's', f'ret = {str(app_id)!r}'),
        ('GetReason', '', 's', f'ret = {str(reason)!r}'),
        ('GetFlags', '', 'u', f'ret = {int(flags)}'),
        ('GetToplevelXid', '', 'u', f'ret = {int(toplevel_xid)}'),
    ])
    self.inhibitors[cookie] = (path, int(flags))
    self.EmitSignal(MAIN_IFACE, 'InhibitorAdded', 'o', [path])
    return dbus.UInt32(cookie)


@dbus.service.method(MAIN_IFACE, in_signature='u', out_signature='')
def Uninhibit(self, cookie):
    path, _flags = self.inhibitors.pop(int(cookie))
    self.RemoveObject(path)
    self.EmitSignal(MAIN_IFACE, 'InhibitorRemoved', 'o', [path])


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='ao')
def GetInhibitors(self):
    return dbus.Array([path for path, _flags in self.inhibitors.values()], signature='o')


@dbus.service.method(MAIN_IFACE, in_signature='u', out_signature='b')
def IsInhibited(self, flags):
    return dbus.Boolean(any(f & int(flags) for _path, f in self.inhibitors.values()))


@dbus.service.method(MAIN_IFACE, in_signature='u', out_signature='')
def Logout(self, mode):
    if int(mode) != LOGOUT_FORCE and IsInhibited(self, INHIBIT_LOGOUT):
        return
    if self.never_ends:
        return
    # After the reply: the apps exit, then the session manager leaves the bus.
    subprocess.Popen(['sh', '-c', 'systemctl --user stop "$@"; kill $PPID_MOCK', 'end-session'] + APP_SCOPES,
                     env=dict(os.environ, PPID_MOCK=str(os.getpid())))
