"""Sends a signed, Twilio-shaped test SMS to a Switchboard SMS webhook (see the README's tour)."""

from __future__ import annotations

import argparse
import sys
import urllib.request

from channels.sms.simulate import inbound_sms_form, signed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the channel's webhook URL (switchboard demo)")
    parser.add_argument("--secret", required=True, help="the channel's signing secret")
    parser.add_argument("--from", dest="sender", required=True, help="the customer's number")
    parser.add_argument("--to", default="+15005550006", help="our number")
    parser.add_argument("--body", required=True)
    parser.add_argument("--sid", help="MessageSid; repeat one to see deduplication")
    args = parser.parse_args()
    fields = inbound_sms_form(
        sender=args.sender, recipient=args.to, body=args.body, message_sid=args.sid
    )
    body, headers = signed(args.url, args.secret, fields)
    request = urllib.request.Request(args.url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        print(response.status, response.read().decode())
    print("MessageSid:", dict(fields)["MessageSid"], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
