"""A PokeTALK EventURL receiver in a process of its own (the second process of the spool
test): serves GET on 127.0.0.1 and hands every query string to cc_event_ingest, answering
the status it returns. It knows no call: what it takes lands in the DSN's event spool.

Usage: poketalk_receiver.py DSN_TEMPLATE   ({port} in it becomes the port listened on)
Prints the port on its first line; stops when its standard input closes.
"""
import ctypes
import os
import sys
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_uint32, c_void_p
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ccffi import lib, new_client  # noqa: E402

lib.cc_event_ingest.argtypes = [c_void_p, c_char_p, POINTER(c_int)]
lib.cc_event_ingest.restype = c_uint32


class Receiver(BaseHTTPRequestHandler):
    def do_GET(self):
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        status = c_int(500)
        lib.cc_event_ingest(client, query.encode(), byref(status))
        self.send_response(status.value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
port = server.server_address[1]
client = new_client(sys.argv[1].replace("{port}", str(port)))
print(port, flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
server.serve_forever()
lib.cc_client_free(client)
