#!/usr/bin/env python3
"""Builds the raw log libpcscspy.so would write for a PC/SC session replaying a meterpurse trace,
so that the real `pcsc-spy` decoder of pcsc-tools can turn it into its text output:

    python3 make-pcsc-spy-log.py ../../../apdu-traces/iso-fs-basic.trace > iso-fs-basic.spy-raw
    pcsc-spy -n iso-fs-basic.spy-raw > pcsc-spy-iso-fs-basic.log

Raw lines are `<thread>@<direction>|<sec>|<usec>|<function>` for a call, one line per parameter
(in the order pcsc-spy's decoder reads them), and `<thread>@<|sec|usec|<function>|<text>|<rv>`
for its return. Times are made up but increase (150 us per exchange).
"""
import sys

THREAD = "0x7f3a5c1d8740"
t = [1763798400, 100000]


def tick(us):
    t[1] += us
    while t[1] >= 1000000:
        t[0] += 1
        t[1] -= 1000000


def call(fct, params, rv=("Command successful.", "0x00000000"), us=40):
    print(f"{THREAD}@>|{t[0]}|{t[1]}|{fct}")
    for p in params:
        print(f"{THREAD}@{p}")
    tick(us)
    print(f"{THREAD}@<|{t[0]}|{t[1]}|{fct}|{rv[0]}|{rv[1]}")
    tick(20)


def hexsp(b):
    return " ".join("%02X" % x for x in b)


reader = "Gemalto PC Twin Reader 00 00"
hctx, hcard = "0x1b6e4a21", "0x0001a2b3"
lines = open(sys.argv[1]).read().splitlines()
atr = None
events = []
for l in lines:
    if l.startswith("@atr "):
        atr = bytes.fromhex(l[5:].replace(" ", ""))
    elif l.startswith("> "):
        events.append(["x", bytes.fromhex(l[2:].replace(" ", "")), None])
    elif l.startswith("< "):
        events[-1][2] = bytes.fromhex(l[2:].split(";")[0].replace("|", "").replace(" ", ""))
    elif l.startswith("! reset "):
        events.append(["r", bytes.fromhex(l[8:].split(";")[0].replace(" ", "")), None])

call("SCardEstablishContext", ["0x00000002", hctx])
call("SCardConnect", [hctx, reader, "0x00000002", "0x00000003", "0x00000000", "0x00000000", hcard, "0x00000002"], us=52000)
status = lambda a: call("SCardStatus", [hcard, "0x00000000", "0x00000021", "0x0000001d", reader, "0x00000034", "0x00000002", "0x%08x" % len(a), hexsp(a)])
status(atr)
for kind, a, b in events:
    if kind == "r":
        call("SCardReconnect", [hcard, "0x00000002", "0x00000003", "0x00000001", "0x00000002"], us=31000)
        status(a)
        continue
    call("SCardTransmit", [hcard, "0x00000002", "0x00000008", "0x%08x" % len(a), hexsp(a),
                           "0x00000002", "0x00000008", "0x%08x" % len(b), hexsp(b)], us=150)
# A last command after the card was pulled: the call fails and has no receive buffer content.
call("SCardTransmit", [hcard, "0x00000002", "0x00000008", "0x00000005", "00 B0 00 00 08",
                       "0x00000002", "0x00000008", "0x00000000", ""],
     rv=("Card was removed.", "0x80100069"), us=900)
call("SCardDisconnect", [hcard, "0x00000000"], rv=("Card was removed.", "0x80100069"))
call("SCardReleaseContext", [hctx])
