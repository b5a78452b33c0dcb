import time
def test_t(client, jetson):
    for cmd in ["true", "id -un", "docker info"]:
        t=time.monotonic(); r=client.run(cmd); print(cmd, round(time.monotonic()-t,3), r.returncode)
    import subprocess
    t=time.monotonic(); subprocess.run(client.argv("true")); print("subprocess", round(time.monotonic()-t,3))
