"""The network: a set encoder over the data's variables and a causal transformer over program tokens.

Pure functions over an explicit parameter pytree (a dict of arrays): `init` builds one, `encode`
turns (features, slots, mask) into one memory vector per variable, `logits` runs the decoder over
a whole token sequence with cross-attention to that memory (training), and `Decoder` runs it one
token at a time in numpy with a key/value cache (proposing: tiny matrices, where numpy beats a
jitted call per token and the cache crop the constrained decoder needs is a length reset).

The encoder has no positional information across variables, so it is permutation-equivariant over
them and the decoder's view of the memory (attention over a set) is invariant to their order;
which variable is which comes only from its role slot, as in the program text.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .features import N_FEATURES
from .vocab import SLOTS, VOCAB


@dataclass(frozen=True)
class ModelConfig:
    width: int = 128
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 3
    max_length: int = 640
    vocab_size: int = VOCAB.size
    features: int = N_FEATURES

    def to_dict(self) -> dict:
        return asdict(self)


def _dense(key, fan_in: int, fan_out: int) -> dict:
    return {"w": jax.random.normal(key, (fan_in, fan_out)) / np.sqrt(fan_in), "b": jnp.zeros(fan_out)}


def _norm(width: int) -> dict:
    return {"g": jnp.ones(width), "b": jnp.zeros(width)}


def _attention(key, width: int) -> dict:
    q, k, v, o = jax.random.split(key, 4)
    return {"q": _dense(q, width, width), "k": _dense(k, width, width), "v": _dense(v, width, width),
            "o": _dense(o, width, width)}


def _mlp(key, width: int) -> dict:
    a, b = jax.random.split(key)
    return {"up": _dense(a, width, 4 * width), "down": _dense(b, 4 * width, width)}


def init(key, cfg: ModelConfig) -> dict:
    """Fresh parameters for `cfg`."""
    keys = iter(jax.random.split(key, 8 + 3 * cfg.encoder_layers + 4 * cfg.decoder_layers))
    d = cfg.width
    encoder = [{"n1": _norm(d), "attn": _attention(next(keys), d), "n2": _norm(d), "mlp": _mlp(next(keys), d)}
               for _ in range(cfg.encoder_layers)]
    decoder = [{"n1": _norm(d), "self": _attention(next(keys), d), "n2": _norm(d),
                "cross": _attention(next(keys), d), "n3": _norm(d), "mlp": _mlp(next(keys), d)}
               for _ in range(cfg.decoder_layers)]
    return {"feat_in": _dense(next(keys), cfg.features, d), "feat_mix": _dense(next(keys), d, d),
            "slot": 0.02 * jax.random.normal(next(keys), (len(SLOTS) + 1, d)),
            "encoder": encoder, "enc_out": _norm(d),
            "token": 0.02 * jax.random.normal(next(keys), (cfg.vocab_size, d)),
            "position": 0.02 * jax.random.normal(next(keys), (cfg.max_length, d)),
            "decoder": decoder, "out": _norm(d)}


def count_parameters(params) -> int:
    return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))


# ---- shared pieces (xp is jax.numpy or numpy) ------------------------------------------------------


def _layer_norm(p, x, xp):
    # sums, not means: numpy's mean is a Python wrapper, costly at one token a call
    inv = 1.0 / x.shape[-1]
    centred = x - x.sum(-1, keepdims=True) * inv
    var = (centred * centred).sum(-1, keepdims=True) * inv
    return centred / xp.sqrt(var + 1e-5) * p["g"] + p["b"]


def _apply(p, x):
    return x @ p["w"] + p["b"]


def _gelu(x, xp):
    if xp is np:  # in place: decoding calls it once a token, and float32 `x ** 3` is a slow pow (12x)
        out = x * x
        out *= 0.044715
        out += 1.0
        out *= x
        out *= 0.7978845608
        np.tanh(out, out=out)
        out += 1.0
        out *= x
        out *= 0.5
        return out
    return 0.5 * x * (1 + xp.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def _ff(p, x, xp):
    return _apply(p["down"], _gelu(_apply(p["up"], x), xp))


def _heads(x, h: int):
    *lead, n, d = x.shape
    return x.reshape(*lead, n, h, d // h).swapaxes(-2, -3)  # (..., h, n, d/h)


def _merge(x):
    *lead, h, n, dh = x.shape
    return x.swapaxes(-2, -3).reshape(*lead, n, h * dh)


def _scale(q) -> float:
    # a Python float: a numpy float64 scalar would turn float32 activations into float64 (NEP 50)
    return 1.0 / math.sqrt(q.shape[-1])


def _softmax(x, xp):
    x = x - x.max(-1, keepdims=True)
    e = xp.exp(x)
    return e / e.sum(-1, keepdims=True)


def _attend(p, x, memory, mask, h: int, xp):
    """Multi-head attention of x (..., n, d) over memory (..., m, d); mask (..., n or 1, m) bool."""
    q, k, v = (_heads(_apply(p[n], z), h) for n, z in (("q", x), ("k", memory), ("v", memory)))
    scores = q @ k.swapaxes(-1, -2) * _scale(q)
    scores = xp.where(mask[..., None, :, :], scores, -1e9)
    return _apply(p["o"], _merge(_softmax(scores, xp) @ v))


# ---- encoder ---------------------------------------------------------------------------------------


def encode(params, features, slots, mask, cfg: ModelConfig, xp=jnp):
    """Memory (..., C, d) for variables (..., C, F) with slots (..., C) and mask (..., C)."""
    x = _apply(params["feat_mix"], _gelu(_apply(params["feat_in"], features), xp)) + params["slot"][slots]
    pair = mask[..., None, :]
    for layer in params["encoder"]:
        x = x + _attend(layer["attn"], _layer_norm(layer["n1"], x, xp), _layer_norm(layer["n1"], x, xp), pair,
                        cfg.heads, xp)
        x = x + _ff(layer["mlp"], _layer_norm(layer["n2"], x, xp), xp)
    return _layer_norm(params["enc_out"], x, xp)


def pooled(memory, mask, xp=jnp):
    """The mean of the memory over the variables: one vector per dataset (order-invariant)."""
    w = mask[..., None].astype(memory.dtype)
    return (memory * w).sum(-2) / xp.maximum(w.sum(-2), 1.0)


# ---- decoder (training: whole sequences) -----------------------------------------------------------


def logits(params, tokens, memory, memory_mask, cfg: ModelConfig):
    """Next-token logits (B, T, V) for tokens (B, T) given the encoder's memory (B, C, d)."""
    t = tokens.shape[-1]
    x = params["token"][tokens] + params["position"][:t]
    causal = jnp.tril(jnp.ones((t, t), bool))[None]
    cross = memory_mask[:, None, :]
    for layer in params["decoder"]:
        h = _layer_norm(layer["n1"], x, jnp)
        x = x + _attend(layer["self"], h, h, causal, cfg.heads, jnp)
        x = x + _attend(layer["cross"], _layer_norm(layer["n2"], x, jnp), memory, cross, cfg.heads, jnp)
        x = x + _ff(layer["mlp"], _layer_norm(layer["n3"], x, jnp), jnp)
    return _layer_norm(params["out"], x, jnp) @ params["token"].T


def loss(params, batch, cfg: ModelConfig):
    """Mean cross-entropy of the program tokens (batch["weight"] marks them; the forced data
    block and the padding weigh 0)."""
    memory = encode(params, batch["features"], batch["slots"], batch["columns"], cfg)
    out = logits(params, batch["tokens"][:, :-1], memory, batch["columns"], cfg)
    logp = jax.nn.log_softmax(out, -1)
    picked = jnp.take_along_axis(logp, batch["tokens"][:, 1:, None], -1)[..., 0]
    w = batch["weight"][:, 1:]
    return -(picked * w).sum() / jnp.maximum(w.sum(), 1.0)


# ---- decoder (proposing: one token at a time, numpy) -----------------------------------------------


class Decoder:
    """Incremental decoding for one dataset: cross-attention keys and values computed once from
    the memory, self-attention keys and values cached per position (a crop resets a length)."""

    def __init__(self, params, memory: np.ndarray, cfg: ModelConfig):
        self.p, self.cfg = params, cfg
        h = cfg.heads
        memory = np.asarray(memory, np.float32)  # float64 features would make every step float64
        self.cross = [(_heads(_apply(l["cross"]["k"], memory), h), _heads(_apply(l["cross"]["v"], memory), h))
                      for l in params["decoder"]]
        # one matrix product for the self-attention's queries, keys and values (fewer small calls)
        self.qkv = [{"w": np.concatenate([l["self"][n]["w"] for n in "qkv"], 1),
                     "b": np.concatenate([l["self"][n]["b"] for n in "qkv"])} for l in params["decoder"]]

    def new_cache(self) -> list:
        d, h, t = self.cfg.width, self.cfg.heads, self.cfg.max_length
        return [(np.zeros((h, t, d // h), np.float32), np.zeros((h, t, d // h), np.float32))
                for _ in self.p["decoder"]]

    def extend(self, cache: list, tokens, start: int) -> np.ndarray:
        """Logits (n, V) after each of `tokens`, placed at positions start.., writing their keys
        and values into `cache` (one block: several forced tokens cost one pass)."""
        p, h, n = self.p, self.cfg.heads, len(tokens)
        end = start + n
        x = p["token"][np.asarray(tokens)] + p["position"][start:end]
        causal = np.arange(end)[None, :] <= np.arange(start, end)[:, None] if n > 1 else None
        for layer, qkv, (kc, vc), (ck, cv) in zip(p["decoder"], self.qkv, cache, self.cross):
            both = _apply(qkv, _layer_norm(layer["n1"], x, np))
            d = both.shape[-1] // 3
            q, k, v = both[..., :d], both[..., d:2 * d], both[..., 2 * d:]
            q = _heads(q, h)
            kc[:, start:end], vc[:, start:end] = _heads(k, h), _heads(v, h)
            x = x + _apply(layer["self"]["o"], _block(q, kc[:, :end], vc[:, :end], causal))
            b = _heads(_apply(layer["cross"]["q"], _layer_norm(layer["n2"], x, np)), h)
            x = x + _apply(layer["cross"]["o"], _block(b, ck, cv, None))
            x = x + _ff(layer["mlp"], _layer_norm(layer["n3"], x, np), np)
        return _layer_norm(p["out"], x, np) @ p["token"].T

    def step(self, caches: list, tokens, positions) -> np.ndarray:
        """Logits (B, V) after one token for each of B sequences, token b at positions[b] of
        caches[b]: the dense layers run once for all B (one small matrix product costs about as
        much as B), attention over each sequence's own cache."""
        p, h = self.p, self.cfg.heads
        positions = np.asarray(positions)
        x = p["token"][np.asarray(tokens)] + p["position"][positions]
        for i, (layer, qkv, (ck, cv)) in enumerate(zip(p["decoder"], self.qkv, self.cross)):
            both = _apply(qkv, _layer_norm(layer["n1"], x, np))
            d = both.shape[-1] // 3
            attended = []
            for b, (cache, at) in enumerate(zip(caches, positions)):
                kc, vc = cache[i]
                kc[:, at], vc[:, at] = both[b, d:2 * d].reshape(h, -1), both[b, 2 * d:].reshape(h, -1)
                attended.append(_block(both[b, :d].reshape(h, 1, -1), kc[:, :at + 1], vc[:, :at + 1], None))
            x = x + _apply(layer["self"]["o"], np.concatenate(attended))
            cq = _heads(_apply(layer["cross"]["q"], _layer_norm(layer["n2"], x, np))[:, None], h)
            x = x + _apply(layer["cross"]["o"], _block(cq, ck, cv, None)[:, 0])  # every row reads the one memory
            x = x + _ff(layer["mlp"], _layer_norm(layer["n3"], x, np), np)
        return _layer_norm(p["out"], x, np) @ p["token"].T


def _block(q, k, v, mask):
    """Queries (h, n, dh) against keys/values (h, m, dh), mask (n, m) or None -> (n, h * dh)."""
    scores = q @ k.swapaxes(-1, -2) * _scale(q)
    if mask is not None:
        scores = np.where(mask[None], scores, -1e9)
    return _merge(_softmax(scores, np) @ v)


def to_numpy(params):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float32), params)
