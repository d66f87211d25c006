import socket, sys, threading, time
# Records the first bytes each connection sends (a PROXY header then whatever follows), one file per connection.
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
n = 0
while True:
    c, a = srv.accept(); n += 1
    c.settimeout(1.0); data = b""
    try:
        while len(data) < 4096:
            d = c.recv(4096)
            if not d: break
            data += d
    except Exception: pass
    open(f"{sys.argv[2]}-{n}.bin", "wb").write(data); c.close()
