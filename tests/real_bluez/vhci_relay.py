"""Attach one ``btvirt -s`` emulated LE controller to the guest kernel through /dev/vhci.

Opens /dev/vhci (a new hciN appears), connects to btvirt's ``/tmp/bt-server-le`` socket and
relays H4 packets both ways. Not ``btvirt -l2``: BlueZ 5.66's own vhci opener reads the
vendor reply non-blocking right after its write, and when the kernel queues HCI_Reset first
the controller never answers it ("Opcode 0x0c03 failed: -110"). Packets that arrive before
the vendor reply are kept and forwarded once the socket is up.

usage: vhci_relay.py LABEL
"""

import os
import socket
import sys
import threading

H4_EVENT, H4_ACL, H4_SCO, H4_ISO, H4_VENDOR = 0x04, 0x02, 0x03, 0x05, 0xFF


def packet_length(buf: bytes) -> int | None:
    """Length of the H4 packet at the start of ``buf``, or None if its header is incomplete."""
    t = buf[0]
    if t == H4_EVENT:
        return 3 + buf[2] if len(buf) >= 3 else None
    if t in (H4_ACL, H4_ISO):
        return 5 + (int.from_bytes(buf[3:5], "little") & 0x3FFF) if len(buf) >= 5 else None
    if t == H4_SCO:
        return 4 + buf[3] if len(buf) >= 4 else None
    raise ValueError(f"unexpected H4 packet type 0x{t:02x}")


def main() -> None:
    label = sys.argv[1]
    vhci = os.open("/dev/vhci", os.O_RDWR)
    os.write(vhci, bytes([H4_VENDOR, 0x00]))  # create a primary controller
    early: list[bytes] = []
    while True:
        pkt = os.read(vhci, 4096)
        if pkt and pkt[0] == H4_VENDOR:
            index = int.from_bytes(pkt[2:4], "little")
            print(f"{label}: hci{index} created ({len(early)} packet(s) first)", flush=True)
            break
        early.append(pkt)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect("/tmp/bt-server-le")
    for pkt in early:
        sock.sendall(pkt)

    def host_to_controller() -> None:
        while pkt := os.read(vhci, 4096):
            sock.sendall(pkt)

    threading.Thread(target=host_to_controller, daemon=True).start()
    buf = b""
    while data := sock.recv(65536):
        buf += data
        while buf:
            n = packet_length(buf)
            if n is None or len(buf) < n:
                break
            os.write(vhci, buf[:n])  # the kernel wants one packet per write
            buf = buf[n:]


if __name__ == "__main__":
    main()
