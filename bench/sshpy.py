"""A minimal SSH-2 client for the benchmark, on asyncio and `cryptography`.

It speaks exactly one suite: curve25519-sha256, an ssh-ed25519 host key
(the signature is verified), aes128-gcm@openssh.com both ways, publickey
authentication with an Ed25519 key, then one session channel. It exists so
that thousands of authenticated sessions (and handshakes without a client
process per connection) cost the measuring side little: one Python process
holds every connection. It is no general client: no rekeying, no host-key
check beyond the signature, no window accounting for large transfers.
"""

import asyncio
import hashlib
import os
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IDENT = b"SSH-2.0-tobira_bench_py_1.0"
KEX = "curve25519-sha256"
HOSTKEY = "ssh-ed25519"
CIPHER = "aes128-gcm@openssh.com"
MACS = "hmac-sha2-256-etm@openssh.com,hmac-sha2-256"

MSG_DISCONNECT, MSG_IGNORE, MSG_UNIMPLEMENTED, MSG_DEBUG = 1, 2, 3, 4
MSG_SERVICE_REQUEST, MSG_SERVICE_ACCEPT, MSG_EXT_INFO = 5, 6, 7
MSG_KEXINIT, MSG_NEWKEYS = 20, 21
MSG_KEX_ECDH_INIT, MSG_KEX_ECDH_REPLY = 30, 31
MSG_USERAUTH_REQUEST, MSG_USERAUTH_FAILURE, MSG_USERAUTH_SUCCESS, MSG_USERAUTH_BANNER = 50, 51, 52, 53
MSG_GLOBAL_REQUEST, MSG_REQUEST_FAILURE = 80, 82
MSG_CHANNEL_OPEN, MSG_CHANNEL_OPEN_CONFIRMATION, MSG_CHANNEL_OPEN_FAILURE = 90, 91, 92
MSG_CHANNEL_WINDOW_ADJUST, MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA = 93, 94, 95
MSG_CHANNEL_EOF, MSG_CHANNEL_CLOSE, MSG_CHANNEL_REQUEST = 96, 97, 98
MSG_CHANNEL_SUCCESS, MSG_CHANNEL_FAILURE = 99, 100


class SSHError(Exception):
    pass


def u32(n):
    return struct.pack(">I", n)


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def mpint(b):
    b = b.lstrip(b"\0")
    if b and b[0] & 0x80:
        b = b"\0" + b
    return sstr(b)


class Reader:
    def __init__(self, data, pos=0):
        self.d, self.p = data, pos

    def byte(self):
        self.p += 1
        return self.d[self.p - 1]

    def u32(self):
        self.p += 4
        return struct.unpack(">I", self.d[self.p - 4 : self.p])[0]

    def string(self):
        n = self.u32()
        self.p += n
        if self.p > len(self.d):
            raise SSHError("truncated string")
        return self.d[self.p - n : self.p]


class UserKey:
    """An Ed25519 private key in OpenSSH's format, unencrypted."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.key = serialization.load_ssh_private_key(f.read(), None)
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.blob = sstr("ssh-ed25519") + sstr(raw)

    def sign(self, data):
        return sstr("ssh-ed25519") + sstr(self.key.sign(data))


class Connection:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.enc = self.dec = None  # (AESGCM, iv bytearray)
        self.session_id = None
        self.channel = None

    # --- packets -------------------------------------------------------

    def send(self, payload):
        if self.enc is None:
            block = 8
            pad = block - (5 + len(payload)) % block
            if pad < 4:
                pad += block
            body = bytes([pad]) + payload + os.urandom(pad)
            self.w.write(u32(len(body)) + body)
            return
        aead, iv = self.enc
        pad = 16 - (1 + len(payload)) % 16
        if pad < 4:
            pad += 16
        body = bytes([pad]) + payload + os.urandom(pad)
        length = u32(len(body))
        self.w.write(length + aead.encrypt(bytes(iv), body, length))
        _next_nonce(iv)

    async def recv(self):
        if self.dec is None:
            length = await self.r.readexactly(4)
            n = struct.unpack(">I", length)[0]
            if n > 35000:
                raise SSHError(f"bad packet length {n}")
            body = await self.r.readexactly(n)
        else:
            aead, iv = self.dec
            length = await self.r.readexactly(4)
            n = struct.unpack(">I", length)[0]
            if n > 262144:
                raise SSHError(f"bad packet length {n}")
            ct = await self.r.readexactly(n + 16)
            body = aead.decrypt(bytes(iv), ct, length)
            _next_nonce(iv)
        pad = body[0]
        return body[1 : len(body) - pad]

    async def expect(self, *types):
        """The next packet of one of `types`, answering or skipping the
        transport and global messages that may come in between."""
        while True:
            p = await self.recv()
            t = p[0]
            if t in types:
                return p
            if t == MSG_DISCONNECT:
                r = Reader(p, 1)
                code = r.u32()
                raise SSHError(f"disconnected ({code}): {r.string().decode(errors='replace')}")
            if t in (MSG_IGNORE, MSG_DEBUG, MSG_EXT_INFO, MSG_USERAUTH_BANNER, MSG_UNIMPLEMENTED):
                continue
            if t == MSG_GLOBAL_REQUEST:
                r = Reader(p, 1)
                r.string()
                if r.byte():
                    self.send(bytes([MSG_REQUEST_FAILURE]))
                continue
            if t == MSG_CHANNEL_WINDOW_ADJUST:
                continue
            raise SSHError(f"unexpected message {t} (wanted {types})")

    # --- the exchange --------------------------------------------------

    async def handshake(self, user, key):
        self.w.write(IDENT + b"\r\n")
        while True:
            line = await self.r.readline()
            if not line:
                raise SSHError("connection closed before identification")
            if line.startswith(b"SSH-"):
                v_s = line.rstrip(b"\r\n")
                break
        lists = [KEX, HOSTKEY, CIPHER, CIPHER, MACS, MACS, "none", "none", "", ""]
        i_c = bytes([MSG_KEXINIT]) + os.urandom(16) + b"".join(sstr(x) for x in lists) + b"\0" + u32(0)
        self.send(i_c)
        i_s = await self.expect(MSG_KEXINIT)
        r = Reader(i_s, 17)
        offered = [r.string().decode() for _ in range(10)]
        for mine, theirs, what in ((KEX, offered[0], "kex"), (HOSTKEY, offered[1], "host key"), (CIPHER, offered[2], "cipher")):
            if mine not in theirs.split(","):
                raise SSHError(f"server lacks {what} {mine}")
        eph = X25519PrivateKey.generate()
        q_c = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.send(bytes([MSG_KEX_ECDH_INIT]) + sstr(q_c))
        p = await self.expect(MSG_KEX_ECDH_REPLY)
        r = Reader(p, 1)
        k_s, q_s, sig = r.string(), r.string(), r.string()
        k = mpint(eph.exchange(X25519PublicKey.from_public_bytes(q_s)))
        h = hashlib.sha256(
            sstr(IDENT) + sstr(v_s) + sstr(i_c) + sstr(i_s) + sstr(k_s) + sstr(q_c) + sstr(q_s) + k
        ).digest()
        hk = Reader(k_s)
        if hk.string() != b"ssh-ed25519":
            raise SSHError("host key is not ssh-ed25519")
        sr = Reader(sig)
        if sr.string() != b"ssh-ed25519":
            raise SSHError("signature is not ssh-ed25519")
        Ed25519PublicKey.from_public_bytes(hk.string()).verify(sr.string(), h)
        self.session_id = h
        self.send(bytes([MSG_NEWKEYS]))
        await self.expect(MSG_NEWKEYS)

        def derive(c, n):
            return hashlib.sha256(k + h + c + self.session_id).digest()[:n]

        self.enc = (AESGCM(derive(b"C", 16)), bytearray(derive(b"A", 12)))
        self.dec = (AESGCM(derive(b"D", 16)), bytearray(derive(b"B", 12)))

        self.send(bytes([MSG_SERVICE_REQUEST]) + sstr("ssh-userauth"))
        await self.expect(MSG_SERVICE_ACCEPT)
        body = (
            sstr(user) + sstr("ssh-connection") + sstr("publickey") + b"\1" + sstr("ssh-ed25519") + sstr(key.blob)
        )
        signed = sstr(self.session_id) + bytes([MSG_USERAUTH_REQUEST]) + body
        self.send(bytes([MSG_USERAUTH_REQUEST]) + body + sstr(key.sign(signed)))
        p = await self.expect(MSG_USERAUTH_SUCCESS, MSG_USERAUTH_FAILURE)
        if p[0] != MSG_USERAUTH_SUCCESS:
            raise SSHError("publickey authentication refused")

    async def open_session(self):
        self.send(bytes([MSG_CHANNEL_OPEN]) + sstr("session") + u32(0) + u32(2 * 1024 * 1024) + u32(32768))
        p = await self.expect(MSG_CHANNEL_OPEN_CONFIRMATION, MSG_CHANNEL_OPEN_FAILURE)
        if p[0] != MSG_CHANNEL_OPEN_CONFIRMATION:
            raise SSHError("session channel refused")
        r = Reader(p, 1)
        r.u32()
        self.channel = r.u32()
        await self.w.drain()

    async def exec(self, command):
        """Runs `command` on the open session; returns its exit status."""
        ch = u32(self.channel)
        self.send(bytes([MSG_CHANNEL_REQUEST]) + ch + sstr("exec") + b"\1" + sstr(command))
        status = None
        while True:
            p = await self.expect(
                MSG_CHANNEL_SUCCESS,
                MSG_CHANNEL_FAILURE,
                MSG_CHANNEL_DATA,
                MSG_CHANNEL_EXTENDED_DATA,
                MSG_CHANNEL_EOF,
                MSG_CHANNEL_REQUEST,
                MSG_CHANNEL_CLOSE,
            )
            t = p[0]
            if t == MSG_CHANNEL_FAILURE:
                raise SSHError("exec refused")
            if t == MSG_CHANNEL_REQUEST:
                r = Reader(p, 5)
                name = r.string()
                want = r.byte()
                if name == b"exit-status":
                    status = r.u32()
                elif want:
                    self.send(bytes([MSG_CHANNEL_FAILURE]) + ch)
            if t == MSG_CHANNEL_CLOSE:
                self.send(bytes([MSG_CHANNEL_CLOSE]) + ch)
                await self.w.drain()
                return status

    async def close(self):
        try:
            self.send(bytes([MSG_DISCONNECT]) + u32(11) + sstr("bye") + sstr(""))
            await self.w.drain()
        except (ConnectionError, OSError):
            pass
        self.w.close()
        try:
            await self.w.wait_closed()
        except (ConnectionError, OSError):
            pass


def _next_nonce(iv):
    ctr = int.from_bytes(iv[4:], "big") + 1
    iv[4:] = (ctr & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


async def connect(host, port, user, key, session=True, timeout=60):
    """An authenticated connection, with a session channel open if asked."""

    async def go():
        r, w = await asyncio.open_connection(host, port, limit=1 << 20)
        c = Connection(r, w)
        try:
            await c.handshake(user, key)
            if session:
                await c.open_session()
        except BaseException:
            w.close()
            raise
        return c

    return await asyncio.wait_for(go(), timeout)


async def run_command(host, port, user, key, command="true"):
    """connect + key exchange + auth + exec + exit, as `ssh host true`."""
    c = await connect(host, port, user, key)
    try:
        return await asyncio.wait_for(c.exec(command), 60)
    finally:
        await c.close()
