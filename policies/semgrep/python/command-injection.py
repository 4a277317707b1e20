import os
import subprocess


def run(user_input):
    # ruleid: python-subprocess-shell-true
    subprocess.call("ls " + user_input, shell=True)
    # ruleid: python-subprocess-shell-true
    subprocess.run(f"grep {user_input} /var/log/app.log", shell=True, check=True)
    # ruleid: python-os-system
    os.system("rm -rf " + user_input)
    # ruleid: python-os-system
    os.popen(f"cat {user_input}").read()
    # ok: python-subprocess-shell-true
    subprocess.run(["ls", user_input], check=True)
    # ok: python-subprocess-shell-true
    subprocess.run("ls -l", shell=True)
    # ok: python-os-system
    os.system("clear")
