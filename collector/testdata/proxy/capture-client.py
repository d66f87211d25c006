# Connects through each proxy from 127.0.0.2 (and ::1) and sends 10 stand-in bytes for a TLS record.
import socket, time
def send(src, port, fam=socket.AF_INET, dst="127.0.0.1"):
    s = socket.socket(fam, socket.SOCK_STREAM); s.bind((src, 0)); s.connect((dst, port))
    s.sendall(b"\x16\x03\x01hello"); time.sleep(0.3); s.close()
send("127.0.0.2", 19011); send("127.0.0.2", 19012); send("127.0.0.2", 19013)
send("::1", 19011, socket.AF_INET6, "::1")
