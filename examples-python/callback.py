"""A two-leg callback with live status: ring A, bridge to B, follow the call, hang up.

    python3 callback.py DSN A_NUMBER B_NUMBER [SECONDS_CONNECTED]

Needs callconnect.py on the module path (PYTHONPATH=/usr/local/share/callconnect/python
after `make install`)."""
import sys
import time

import callconnect


def main() -> int:
    if len(sys.argv) < 4:
        print(f"usage: {sys.argv[0]} DSN A_NUMBER B_NUMBER [SECONDS_CONNECTED]", file=sys.stderr)
        return 2
    dsn, a, b = sys.argv[1:4]
    talk_s = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    print(callconnect.version())
    try:
        with callconnect.Client(dsn) as client:
            call = client.start_call(a, b)
            print(f"callback placed: ringing {a}, then bridging to {b}")
            last, connected_at, hung_up = None, None, False
            while True:
                st = call.status()
                if st.state != last:
                    extra = f" reason={st.reason.name} leg={st.failed_leg.name}" if st.reason else ""
                    print(f"  {st.state.name:<10}{extra}")
                    last = st.state
                if st.final:
                    break
                if st.state is callconnect.State.CONNECTED and connected_at is None:
                    connected_at = time.monotonic()
                if not hung_up and (not st.live or (connected_at and time.monotonic() - connected_at >= talk_s)):
                    if not st.live:
                        print("  (this carrier reports no progress for a callback: hanging up)")
                    call.hangup()
                    print("  hang-up requested")
                    hung_up = True
                time.sleep(0.1)
            call.close()
    except callconnect.OutcomeUnknownError as e:
        print(f"the call may have been placed; not repeated: {e}", file=sys.stderr)
        return 1
    except callconnect.CallConnectError as e:
        print(f"failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
