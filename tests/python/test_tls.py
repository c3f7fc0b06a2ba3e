"""HTTPS through Python ctypes: ca_file trusts the simulator's private CA; a self-signed
certificate is CC_ERR_NETWORK with "certificate", and nothing reaches the simulator."""
import os
import unittest
from ctypes import byref, c_void_p

from ccffi import NETWORK, OK, last_error, lib, new_client, sim_stats


def tls_dsn(port_var):
    return (f"connectcall://test-py-tls:secret-test-py-tls@127.0.0.1:{os.environ[port_var]}/api/"
            f"?default_country=49&timeout_ms=5000&ca_file={os.environ['CC_SIM_CA_FILE']}")


class Tls(unittest.TestCase):
    def test_ca_file_trusted(self):
        client = new_client(tls_dsn("CC_SIM_TLS_PORT"))
        call = c_void_p()
        self.assertEqual(lib.cc_start_call(client, b"0171 1234567", b"030 1234567", None, byref(call)), OK,
                         last_error())
        self.assertEqual(lib.cc_hangup(call), OK, last_error())
        lib.cc_call_free(call)
        lib.cc_client_free(client)

    def test_self_signed_refused(self):
        client = new_client(tls_dsn("CC_SIM_SELFSIGNED_PORT"))
        before = sim_stats()["_requests"]["total"]
        call = c_void_p()
        r = lib.cc_start_call(client, b"0171 1234567", b"030 1234567", None, byref(call))
        self.assertEqual(r, NETWORK, last_error())
        self.assertIn("certificate", last_error())
        self.assertIn("127.0.0.1", last_error())
        self.assertEqual(sim_stats()["_requests"]["total"], before)
        lib.cc_client_free(client)


if __name__ == "__main__":
    unittest.main()
