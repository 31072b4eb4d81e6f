#!/usr/bin/env python3
# Sends the UDP payloads of pcap files (Ethernet/IPv4) to 127.0.0.1:PORT, for regen.sh.
#   replay.py PORT FILE.pcap...
import socket, struct, sys, time
# minimal pcap reader: Ethernet/IPv4/UDP payloads
def payloads(path):
    f = open(path, 'rb'); d = f.read()
    magic = struct.unpack('<I', d[:4])[0]
    end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    linktype = struct.unpack(end+'I', d[20:24])[0]
    off = 24
    while off + 16 <= len(d):
        ts, tu, incl, orig = struct.unpack(end+'IIII', d[off:off+16]); off += 16
        pkt = d[off:off+incl]; off += incl
        if linktype == 1:
            et = struct.unpack('>H', pkt[12:14])[0]; p = 14
            while et == 0x8100:
                et = struct.unpack('>H', pkt[p+2:p+4])[0]; p += 4
            if et != 0x0800: continue
            ip = pkt[p:]
        else:
            continue
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17: continue
        udp = ip[ihl:]
        ulen = struct.unpack('>H', udp[4:6])[0]
        yield udp[8:ulen]
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for path in sys.argv[2:]:
    for p in payloads(path):
        s.sendto(p, ('127.0.0.1', port)); time.sleep(0.002)
