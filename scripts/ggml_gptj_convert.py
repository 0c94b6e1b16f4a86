#!/usr/bin/env python3
"""Convert a GPT-J checkpoint in Hugging Face safetensors layout to ggml's GPT-J f16 file.

A developer tool for scripts/ggml-compare, not part of ipusim: it writes the file
that ggml's examples/gpt-j loader (main.cpp, gptj_model_load) and its quantize
tool (gpt-j-quantize) read, the format ggml's convert-h5-to-ggml.py writes, without
PyTorch or transformers. Needs Python 3 and NumPy only.

File layout (all integers int32 little-endian, as ggml reads them):
  magic 0x67676d6c; hparams n_vocab, n_ctx (= n_positions), n_embd, n_head,
  n_layer, n_rot (= rotary_dim), ftype (1 = mostly f16);
  n_vocab again, then n_vocab records {len, bytes}, token i being id i;
  then per tensor {n_dims, name length, type (0 f32, 1 f16)}, the dimensions
  innermost first (ggml's ne[0] = the safetensors shape's last entry), the name,
  the raw data. 2-D ".weight" tensors are f16, everything else f32, as the
  convert script does. The loader finds tensors by name, so order is free; it
  does not notice a missing tensor (it would run on uninitialised memory), so
  this converter refuses a checkpoint that lacks one.

Usage: ggml_gptj_convert.py CHECKPOINT_DIR VOCAB_DIR OUT_FILE
  VOCAB_DIR holds GPT-2's encoder.json (what scripts/setup installs) or vocab.json.
Exit status: 2 usage, 1 input or I/O error; OUT_FILE is written under a temporary
name and renamed at the end, so a failed run leaves nothing half-written.
"""

import json
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    sys.stderr.write("ggml_gptj_convert.py: needs NumPy for %s (Debian: apt-get install python3-numpy)\n"
                     % sys.executable)
    sys.exit(1)

GGML_FILE_MAGIC = 0x67676D6C
FTYPE_MOSTLY_F16 = 1
TYPE_F32, TYPE_F16 = 0, 1
# Checkpoint tensors ggml's GPT-J does not use (the causal mask buffers older
# transformers versions saved).
SKIPPED_SUFFIXES = (".attn.bias", ".attn.masked_bias")
CHUNK_BYTES = 64 << 20


class InputError(Exception):
    pass


def bytes_to_unicode():
    """GPT-2's byte <-> printable-character table (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def read_json(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except OSError as err:
        raise InputError("%s: %s" % (path, err.strerror))
    except ValueError as err:
        raise InputError("%s: not valid JSON (%s)" % (path, err))


def hparams_from_config(path):
    """The seven header integers from config.json, refusing shapes ggml's gpt-j hard-codes otherwise."""
    cfg = read_json(path)
    keys = ["vocab_size", "n_positions", "n_embd", "n_head", "n_layer", "rotary_dim"]
    for k in keys:
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0:
            raise InputError("%s: key '%s' is %r, expected a positive integer" % (path, k, cfg.get(k)))
    # ggml's gpt-j assumes a 4 x n_embd MLP, gelu and eps 1e-5 (main.cpp, gptj_eval).
    n_inner = cfg.get("n_inner")
    if n_inner is not None and n_inner != 4 * cfg["n_embd"]:
        raise InputError("%s: key 'n_inner' is %r; ggml's gpt-j supports only 4 x n_embd = %d"
                         % (path, n_inner, 4 * cfg["n_embd"]))
    act = cfg.get("activation_function", "gelu_new")
    if act != "gelu_new":
        raise InputError("%s: key 'activation_function' is %r; ggml's gpt-j computes gelu_new" % (path, act))
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    if abs(eps - 1e-5) > 1e-9:
        sys.stderr.write("ggml_gptj_convert.py: warning: %s: layer_norm_epsilon %g, ggml's gpt-j uses 1e-5\n"
                         % (path, eps))
    return [cfg[k] for k in keys], cfg


def vocab_tokens(vocab_dir, n_vocab):
    """n_vocab token byte strings by id: GPT-2's 50257, then GPT-J's <|extratoken_k|> padding."""
    for name in ("encoder.json", "vocab.json"):
        path = os.path.join(vocab_dir, name)
        if os.path.exists(path):
            break
    else:
        raise InputError("vocabulary folder '%s' holds neither encoder.json nor vocab.json" % vocab_dir)
    enc = read_json(path)
    by_id = [None] * len(enc)
    for tok, i in enc.items():
        if not isinstance(i, int) or not 0 <= i < len(enc) or by_id[i] is not None:
            raise InputError("%s: token %r has id %r; ids must be 0..%d, each once" % (path, tok, i, len(enc) - 1))
        by_id[i] = tok
    decoder = {v: k for k, v in bytes_to_unicode().items()}
    out = []
    for tok in by_id[:n_vocab]:
        try:
            out.append(bytes(decoder[c] for c in tok))
        except KeyError as err:
            raise InputError("%s: token %r has character %r outside GPT-2's byte table" % (path, tok, err.args[0]))
    # GPT-J's tokenizer (added_tokens.json) names the ids past GPT-2's this way.
    out += [("<|extratoken_%d|>" % k).encode() for k in range(1, n_vocab - len(out) + 1)]
    return out


def safetensors_files(ck):
    """{tensor name: (file, header entry, data offset)} over the checkpoint's shards."""
    index = os.path.join(ck, "model.safetensors.index.json")
    if os.path.exists(index):
        wm = read_json(index).get("weight_map")
        if not isinstance(wm, dict):
            raise InputError("%s: no 'weight_map' object" % index)
        files = sorted(set(wm.values()))
    elif os.path.exists(os.path.join(ck, "model.safetensors")):
        files = ["model.safetensors"]
    else:
        raise InputError("checkpoint '%s' has neither model.safetensors nor model.safetensors.index.json" % ck)
    tensors = {}
    for fname in files:
        path = os.path.join(ck, fname)
        try:
            with open(path, "rb") as f:
                raw = f.read(8)
                if len(raw) != 8:
                    raise InputError("%s: shorter than the 8-byte header length" % path)
                (hlen,) = struct.unpack("<Q", raw)
                header = json.loads(f.read(hlen))
        except OSError as err:
            raise InputError("%s: %s" % (path, err.strerror))
        except ValueError as err:
            raise InputError("%s: header is not valid JSON (%s)" % (path, err))
        for name, entry in header.items():
            if name != "__metadata__":
                tensors[name] = (path, entry, 8 + hlen)
    return tensors


def expected_shapes(n_vocab, n_embd, n_layer):
    """Every tensor ggml's gpt-j loads, with its safetensors (row-major) shape."""
    e = n_embd
    shapes = {"transformer.wte.weight": [n_vocab, e], "transformer.ln_f.weight": [e],
              "transformer.ln_f.bias": [e], "lm_head.weight": [n_vocab, e], "lm_head.bias": [n_vocab]}
    for i in range(n_layer):
        p = "transformer.h.%d." % i
        shapes.update({p + "ln_1.weight": [e], p + "ln_1.bias": [e],
                       p + "attn.q_proj.weight": [e, e], p + "attn.k_proj.weight": [e, e],
                       p + "attn.v_proj.weight": [e, e], p + "attn.out_proj.weight": [e, e],
                       p + "mlp.fc_in.weight": [4 * e, e], p + "mlp.fc_in.bias": [4 * e],
                       p + "mlp.fc_out.weight": [e, 4 * e], p + "mlp.fc_out.bias": [e]})
    return shapes


def tensor_chunks(path, entry, base, want):
    """The tensor's values as numpy arrays of dtype `want`, a chunk at a time (a 6B matrix is 400 MB)."""
    dt = {"F16": np.float16, "F32": np.float32, "BF16": np.uint16}.get(entry.get("dtype"))
    if dt is None:
        raise InputError("%s: tensor dtype %r; this converter reads F16, BF16 and F32" % (path, entry.get("dtype")))
    start, end = entry["data_offsets"]
    n = int(np.prod(entry["shape"], dtype=np.int64))
    if end - start != n * np.dtype(dt).itemsize:
        raise InputError("%s: data_offsets %r do not hold shape %r of %s" % (path, entry["data_offsets"],
                                                                           entry["shape"], entry["dtype"]))
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=base + start, shape=(end - start,)).view(dt)
    step = max(1, CHUNK_BYTES // np.dtype(dt).itemsize)
    for k in range(0, n, step):
        v = mm[k:k + step]
        if entry["dtype"] == "BF16":
            v = (v.astype(np.uint32) << 16).view(np.float32)
        yield v if v.dtype == want else v.astype(want)


def write_tensor(out, name, entry_loc, shape):
    path, entry, base = entry_loc
    if list(entry["shape"]) != shape:
        raise InputError("%s: tensor '%s' has shape %r, expected %r from config.json"
                         % (path, name, entry["shape"], shape))
    f16 = name.endswith(".weight") and len(shape) == 2
    bname = name.encode()
    out.write(struct.pack("<iii", len(shape), len(bname), TYPE_F16 if f16 else TYPE_F32))
    out.write(struct.pack("<%di" % len(shape), *reversed(shape)))
    out.write(bname)
    for chunk in tensor_chunks(path, entry, base, np.float16 if f16 else np.float32):
        out.write(np.ascontiguousarray(chunk).tobytes())


def convert(ck, vocab_dir, out_path):
    hp, _ = hparams_from_config(os.path.join(ck, "config.json"))
    n_vocab, _, n_embd, _, n_layer, _ = hp
    tokens = vocab_tokens(vocab_dir, n_vocab)
    tensors = safetensors_files(ck)
    shapes = expected_shapes(n_vocab, n_embd, n_layer)
    missing = [n for n in shapes if n not in tensors]
    if missing:
        raise InputError("checkpoint '%s' lacks tensor '%s' (%d missing)" % (ck, missing[0], len(missing)))
    extra = [n for n in tensors if n not in shapes and not n.endswith(SKIPPED_SUFFIXES)]
    if extra:
        raise InputError("checkpoint '%s' has tensor '%s', which ggml's gpt-j does not load" % (ck, extra[0]))
    tmp = out_path + ".tmp"
    try:
        with open(tmp, "wb") as out:
            out.write(struct.pack("<8i", GGML_FILE_MAGIC, *hp, FTYPE_MOSTLY_F16))
            out.write(struct.pack("<i", len(tokens)))
            for t in tokens:
                out.write(struct.pack("<i", len(t)) + t)
            for name, shape in shapes.items():
                write_tensor(out, name, tensors[name], shape)
        os.replace(tmp, out_path)
    except OSError as err:
        raise InputError("%s: %s" % (err.filename or tmp, err.strerror))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print("wrote %s: %d tensors, vocabulary %d, n_embd %d, n_layer %d (ggml GPT-J f16)"
          % (out_path, len(shapes), len(tokens), n_embd, n_layer))


def main(argv):
    if len(argv) != 4 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: ggml_gptj_convert.py CHECKPOINT_DIR VOCAB_DIR OUT_FILE\n")
        return 2
    try:
        convert(argv[1], argv[2], argv[3])
    except InputError as err:
        sys.stderr.write("ggml_gptj_convert.py: %s\n" % err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
