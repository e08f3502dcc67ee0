import torch

from audit.foundation.embeddings import EmbeddingCache, encode_texts, text_digests
from audit.foundation.loader import load_encoder


def test_digests_are_sha256_of_the_text():
    import hashlib

    assert text_digests(["abc"])[0].tobytes() == hashlib.sha256(b"abc").digest()


def test_cache_encodes_only_new_texts_and_preserves_order(tmp_path):
    calls: list[list[str]] = []

    def encode(texts):
        calls.append(list(texts))
        return torch.tensor([[float(len(t)), float(t.count("a"))] for t in texts])

    cache = EmbeddingCache(tmp_path, "enc/1")
    first = cache.get_or_encode(["aa", "b", "aa"], encode)
    assert calls == [["aa", "b"]]  # duplicates encoded once
    assert first.tolist() == [[2.0, 2.0], [1.0, 0.0], [2.0, 2.0]]
    again = EmbeddingCache(tmp_path, "enc/1").get_or_encode(["b", "ccc", "aa"], encode)  # a fresh instance: on disk
    assert calls[1] == ["ccc"]
    assert again.tolist() == [[1.0, 0.0], [3.0, 0.0], [2.0, 2.0]]
    assert EmbeddingCache(tmp_path, "enc/2").path != cache.path  # keyed by encoder id
    assert cache.path.suffix == ".safetensors"


def test_two_writers_of_one_cache_keep_each_others_entries(tmp_path):
    """Suites side by side (forked workers) each read the file, encode their own texts and write: the second
    writer must keep what the first added after it read, else the next run encodes those texts again."""
    def encode(texts):
        return torch.tensor([[float(len(t)), float(t.count("a"))] for t in texts])

    EmbeddingCache(tmp_path, "enc").get_or_encode(["seed"], encode)
    first, second = EmbeddingCache(tmp_path, "enc"), EmbeddingCache(tmp_path, "enc")
    first.get_or_encode(["seed"], encode), second.get_or_encode(["seed"], encode)  # both have read the file
    first.get_or_encode(["from first"], encode)
    second.get_or_encode(["from second", "seed"], encode)

    def refused(texts):
        raise AssertionError(f"encoded again: {texts}")

    later = EmbeddingCache(tmp_path, "enc").get_or_encode(["from first", "from second", "seed"], refused)
    assert later.tolist() == [[10.0, 0.0], [11.0, 0.0], [4.0, 0.0]]


def test_batched_encoding_matches_one_call(tiny_folder):
    encoder = load_encoder(tiny_folder).module
    texts = [f"A {n}-year-old White man, married." for n in range(20, 45)]
    batched = encode_texts(encoder, texts, batch_size=4)
    whole = torch.as_tensor(encoder.encode(texts, convert_to_tensor=True)).float()
    assert batched.dtype == torch.float32 and batched.shape == (25, 32)
    assert torch.allclose(batched, whole, atol=1e-5)


def test_memo_encodes_each_distinct_text_once_and_falls_back_on_the_disk_cache(tmp_path):
    from audit.foundation.embeddings import EmbeddingMemo

    calls: list[list[str]] = []

    def encode(texts):
        calls.append(list(texts))
        return torch.tensor([[float(len(t)), float(t.count("a"))] for t in texts])

    encoder, other = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    memo = EmbeddingMemo()
    memo.attach(encoder, False, EmbeddingCache(tmp_path, "enc-texts", max_entries=3))
    assert memo.get_or_encode(encoder, False, ["aa", "b", "aa"], encode).tolist() == [[2, 2], [1, 0], [2, 2]]
    assert memo.get_or_encode(encoder, False, ["b", "ca"], encode).tolist() == [[1, 0], [2, 1]]
    assert calls == [["aa", "b"], ["ca"]]  # nothing encoded twice in the process
    memo.get_or_encode(other, False, ["b"], encode)  # another encoder (e.g. an int8 copy) is another key
    assert calls[-1] == ["b"]
    fresh = EmbeddingMemo()  # a later run: what the first wrote to disk is read back, not encoded
    fresh.attach(encoder, False, EmbeddingCache(tmp_path, "enc-texts", max_entries=3))
    assert fresh.get_or_encode(encoder, False, ["ca", "aa"], encode).tolist() == [[2, 1], [2, 2]]
    assert len(calls) == 3
    fresh.get_or_encode(encoder, False, ["dddd"], encode)  # over max_entries: the oldest ("aa") is dropped on disk
    assert EmbeddingCache(tmp_path, "enc-texts").get_or_encode(["aa"], encode).tolist() == [[2, 2]]
    assert calls[-1] == ["aa"]
