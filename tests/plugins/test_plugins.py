#!/usr/bin/env python3
"""Type plugins: `usblab run NAME VERB` and `usblab VERB NAME` against a real
usblabd (--virtual cdc,esp32, a registry that types them), with plugins in a
project directory ($USBLAB_TYPES_DIR) and the user's ($XDG_CONFIG_HOME/usblab/
types.d): lookup order, the environment, arguments passed untouched, exit
status passed through, a missing verb, no type, no daemon; the build tree's
own types.d/; and the shipped plugins (types.d/esp32 with and without esptool,
types.d/rp2040 onto a directory playing the BOOTSEL drive).

Prints TAP. Environment: USBLAB, USBLABD, SRCDIR (the source tree).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from usblabtest import Tap, Usblabd, free_port  # noqa: E402

USBLAB = os.environ["USBLAB"]
USBLABD = os.environ["USBLABD"]
SRCDIR = os.environ["SRCDIR"]
TAP = Tap()


def tap(ok, name, why=""):
    TAP.check(ok, name, why)


def usblab(*args, env):
    p = subprocess.run([USBLAB] + list(args), capture_output=True, text=True, env=env,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def write_exe(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


PROJECT_ESP32 = r"""#!/bin/sh
case $1 in
--verbs) printf 'envdump  print the environment\nexit7 fail with 7\nshared\n' ;;
envdump) shift; env | grep '^USBLAB_' | sort; for a in "$@"; do echo "arg=$a"; done ;;
exit7) exit 7 ;;
shared) echo project ;;
*) exit 99 ;;
esac
"""

USER_ESP32 = r"""#!/bin/sh
case $1 in
--verbs) echo 'shared  the own one of the user' ;;
shared) echo user ;;
*) exit 99 ;;
esac
"""

CONF = """\
[esp-a]
serial = USBLAB-ESP32-2
type = esp32

[cdc]
serial = USBLAB-CDC-1
type = virtual

[bare]
serial = NOTYPE-1
"""


def envmap(out):
    return dict(l.split("=", 1) for l in out.splitlines() if l.startswith("USBLAB_"))


def tests(tmp, sock, env):
    proj = os.path.join(tmp, "project")
    user = os.path.join(tmp, "cfg", "usblab", "types.d")
    write_exe(os.path.join(proj, "esp32"), PROJECT_ESP32)
    write_exe(os.path.join(user, "esp32"), USER_ESP32)
    env = dict(env, USBLAB_TYPES_DIR=proj, XDG_CONFIG_HOME=os.path.join(tmp, "cfg"))
    ul = ["--socket", sock]

    rc, out, err = usblab(*ul, "run", "esp-a", "envdump", "a b", "--not-ours", "", env=env)
    e = envmap(out)
    tap(rc == 0 and e.get("USBLAB_BOARD") == "esp-a" and e.get("USBLAB_TYPE") == "esp32" and
        e.get("USBLAB_VIDPID") == "303a:1001" and e.get("USBLAB_VID") == "303a" and
        e.get("USBLAB_SERIAL") == "USBLAB-ESP32-2" and e.get("USBLAB_BUSID") == "0-2" and
        e.get("USBLAB_STATE") == "exported" and e.get("USBLAB_VERB") == "envdump" and
        e.get("USBLAB_SOCKET") == sock and os.path.samefile(e.get("USBLAB_BIN", "/"), USBLAB)
        and "USBLAB_TTY" in e and "USBLAB_MAC" in e and "USBLAB_PORT" in e,
        "the environment: board, type, busid, VID:PID, serial, state, verb, socket, usblab",
        (rc, out, err))
    tap(out.endswith("arg=a b\narg=--not-ours\narg=\n"),
        "the plugin's arguments reach it untouched (spaces, options, empty)", out)

    rc, out, err = usblab(*ul, "run", "esp-a", "shared", env=env)
    tap(rc == 0 and out == "user\n", "lookup order: the user's plugin wins a verb both have",
        (rc, out, err))
    rc, out, err = usblab(*ul, "run", "esp-a", "exit7", env=env)
    tap(rc == 7, "a verb only the project's has is the project's; its exit status passes "
        "through", (rc, out, err))
    rc, out, err = usblab(*ul, "exit7", "esp-a", env=env)
    tap(rc == 7, "`usblab VERB NAME`: an unknown verb falls through to the plugin", (rc, err))
    rc, out, err = usblab(*ul, "envdump", "esp-a", "--json", "x", env=env)
    tap(rc == 0 and out.endswith("arg=--json\narg=x\n"),
        "`usblab VERB NAME ARGS`: options after NAME are the plugin's", (rc, out, err))

    os.rename(os.path.join(user, "esp32"), os.path.join(user, "off"))
    rc, out, err = usblab(*ul, "run", "esp-a", "shared", env=env)
    tap(rc == 0 and out == "project\n", "without the user's plugin, the project's answers",
        (rc, out, err))
    os.rename(os.path.join(user, "off"), os.path.join(user, "esp32"))

    rc, out, err = usblab(*ul, "run", "esp-a", "nosuch", env=env)
    tap(rc == 2 and "no plugin of esp-a's type esp32 has the verb 'nosuch'" in err and
        os.path.join(user, "esp32") in err and os.path.join(proj, "esp32") in err and
        "envdump, exit7, shared" in err,
        "a missing verb: exit 2, names both places and what they have", (rc, err))
    rc, out, err = usblab(*ul, "nosuch", "esp-a", env=env)
    tap(rc == 2 and "unknown command 'nosuch'" in err and os.path.join(proj, "esp32") in err,
        "an unknown `usblab VERB NAME`: unknown command, and where plugins were looked for",
        (rc, err))
    rc, out, err = usblab(*ul, "lst", "ghost", env=env)
    tap(rc == 2 and "unknown command 'lst'" in err and "does not know that board" in err,
        "`usblab VERB NAME` with an unknown board: an unknown command, exit 2", (rc, err))
    rc, out, err = usblab("--socket", os.path.join(tmp, "none.sock"), "lst", "esp-a", env=env)
    tap(rc == 2 and "unknown command 'lst'" in err and "not running" in err,
        "`usblab VERB NAME` without usblabd: an unknown command, exit 2", (rc, err))
    rc, out, err = usblab(*ul, "run", "cdc", "flash", env=env)
    tap(rc == 2 and err.count("no such executable") == 2 and "type virtual" in err,
        "a type with no plugin: exit 2, both places named", (rc, err))
    rc, out, err = usblab(*ul, "run", "bare", "flash", env=env)
    tap(rc == 2 and "bare has no type" in err, "a board with no type: exit 2", (rc, err))
    rc, out, err = usblab(*ul, "run", "ghost", "flash", env=env)
    tap(rc == 1 and err.startswith("usblab: "), "an unknown board: usblabd's error, exit 1",
        (rc, err))
    rc, out, err = usblab(*ul, "run", "esp-a", "../esp32", env=env)
    tap(rc == 2 and "is not a verb" in err, "a verb that is a path: refused", (rc, err))

    rc, out, err = usblab(*ul, "run", "esp-a", env=env)
    got = [l.split()[0] for l in out.splitlines()]
    tap(rc == 0 and got == ["shared", "envdump", "exit7"] and
        os.path.join(user, "esp32") in out.splitlines()[0],
        "run NAME: the verbs, the user's first, each once", (rc, out, err))
    rc, out, err = usblab(*ul, "--json", "run", "esp-a", env=env)
    try:
        j = json.loads(out)
        ok = rc == 0 and [v["verb"] for v in j["verbs"]] == ["shared", "envdump", "exit7"] and \
            j["verbs"][1]["description"] == "print the environment"
    except (ValueError, KeyError, IndexError):
        ok = False
    tap(ok, "run NAME --json: the verbs and their descriptions", (rc, out, err))

    # A board attached here, no usblabd: --type, the tty from the run dir.
    run = os.path.join(tmp, "run")
    os.makedirs(os.path.join(run, "pico"), exist_ok=True)
    if not os.path.lexists(os.path.join(run, "pico", "tty")):
        os.symlink("/dev/null", os.path.join(run, "pico", "tty"))
    env2 = dict(env, USBLAB_RUN_DIR=run)
    nosock = os.path.join(tmp, "nothing.sock")
    rc, out, err = usblab("--socket", nosock, "run", "--type", "esp32", "pico", "envdump",
                          env=env2)
    e = envmap(out)
    tap(rc == 0 and e.get("USBLAB_TTY") == "/dev/null" and e.get("USBLAB_BOARD") == "pico",
        "no usblabd, a board attached here and --type: its tty from $USBLAB_RUN_DIR/NAME/tty",
        (rc, out, err))
    rc, out, err = usblab("--socket", nosock, "run", "pico", "envdump", env=env2)
    tap(rc == 3 and "--type" in err, "no usblabd and no --type: exit 3, says to give --type",
        (rc, err))

    # The build tree's usblab finds the source tree's types.d/.
    env3 = dict(env)
    del env3["USBLAB_TYPES_DIR"]
    rc, out, err = usblab(*ul, "run", "esp-a", env=env3)
    tap(rc == 0 and any(l.startswith("flash ") and os.path.join(SRCDIR, "types.d", "esp32") in l
                        for l in out.splitlines()),
        "from the build tree: the repository's types.d/ (the shipped esp32 plugin)",
        (rc, out, err))


def shipped(tmp, sock, env):
    """types.d/esp32 and types.d/rp2040, as shipped."""
    ul = ["--socket", sock]
    env = dict(env, USBLAB_TYPES_DIR=os.path.join(SRCDIR, "types.d"),
               XDG_CONFIG_HOME=os.path.join(tmp, "cfg-empty"))
    fw = os.path.join(tmp, "app.bin")
    with open(fw, "wb") as f:
        f.write(b"\xe9" + bytes(255))
    rc, out, err = usblab(*ul, "run", "esp-a", "flash", fw, env=env)
    tap(rc == 3 and "no serial port on this machine" in err,
        "esp32 flash of a board with no tty here: exit 3, says so", (rc, err))
    # esp-a attached here: its tty from the run dir, a pty.
    master, slave = os.openpty()
    run = os.path.join(tmp, "run2")
    os.makedirs(os.path.join(run, "esp-a"), exist_ok=True)
    os.symlink(os.ttyname(slave), os.path.join(run, "esp-a", "tty"))
    empty = os.path.join(tmp, "emptybin")
    os.makedirs(empty, exist_ok=True)
    env_none = dict(env, USBLAB_RUN_DIR=run, PATH=empty)
    rc, out, err = usblab(*ul, "flash", "esp-a", fw, env=env_none)
    tap(rc == 127 and "esptool is not installed" in err,
        "esp32 flash without esptool: exit 127, says how to install it", (rc, err))
    fake = os.path.join(tmp, "fakebin")
    write_exe(os.path.join(fake, "esptool"),
              "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\nexit 5\n")
    env_fake = dict(env, USBLAB_RUN_DIR=run, PATH=fake + ":" + os.environ["PATH"])
    rc, out, err = usblab(*ul, "flash", "esp-a", fw, "0x10000", env=env_fake)
    tap(rc == 5 and out.split("\n") == ["--port", os.ttyname(slave), "write_flash", "0x10000",
                                         fw, ""],
        "esp32 flash: esptool on the board's tty at the address, its status passed through",
        (rc, out, err))
    os.close(master)
    os.close(slave)

    # rp2040 flash onto a directory playing the BOOTSEL drive.
    uf2 = os.path.join(tmp, "blink.uf2")
    block = struct.pack("<IIIIIIII", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000, 256, 0, 1,
                        0xE48BFF56) + bytes(476) + struct.pack("<I", 0x0AB16F30)
    with open(uf2, "wb") as f:
        f.write(block)
    drive = os.path.join(tmp, "RPI-RP2")
    os.makedirs(drive, exist_ok=True)
    rc, out, err = usblab(*ul, "run", "--type", "rp2040", "esp-a", "flash", uf2, drive, env=env)
    tap(rc == 3 and "INFO_UF2.TXT" in err and not os.path.exists(os.path.join(drive, "blink.uf2")),
        "rp2040 flash onto a drive that is not BOOTSEL's: exit 3, nothing copied", (rc, err))
    open(os.path.join(drive, "INFO_UF2.TXT"), "w").write("UF2 Bootloader v3.0\n")
    rc, out, err = usblab(*ul, "run", "--type", "rp2040", "esp-a", "flash", uf2, drive, env=env)
    copied = os.path.join(drive, "blink.uf2")
    tap(rc == 0 and os.path.exists(copied) and open(copied, "rb").read() == block,
        "rp2040 flash: the UF2 copied to the BOOTSEL drive", (rc, out, err))
    rc, out, err = usblab(*ul, "run", "--type", "rp2040", "esp-a", "flash", fw, drive, env=env)
    tap(rc == 2 and "not a UF2 file" in err, "rp2040 flash of a file that is not UF2: exit 2",
        (rc, err))


def main():
    tmp = tempfile.mkdtemp(prefix="usblab-plugins-")
    conf = os.path.join(tmp, "devices.conf")
    sock = os.path.join(tmp, "usblabd.sock")
    with open(conf, "w") as f:
        f.write(CONF)
    env = dict(os.environ, XDG_RUNTIME_DIR=tmp, XDG_STATE_HOME=tmp,
               USBLAB_RUN_DIR=os.path.join(tmp, "run-empty"))
    env.pop("USBLAB_TYPES_DIR", None)
    d = Usblabd(USBLABD, ["--listen", f"127.0.0.1:{free_port()}", "--virtual", "cdc,esp32",
                          "--registry", conf, "--db", "none", "--control", sock,
                          "--no-inventory", "--http", "none"],
                os.path.join(tmp, "usblabd.log"), env=dict(env, XDG_CONFIG_HOME=tmp))
    try:
        for _ in range(200):
            if usblab("--socket", sock, "status", env=env)[0] == 0:
                break
            time.sleep(0.05)
        for t in (tests, shipped):
            try:
                t(tmp, sock, env)
            except Exception as e:
                tap(False, f"{t.__name__} raised", repr(e))
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return TAP.done()


if __name__ == "__main__":
    sys.exit(main())
