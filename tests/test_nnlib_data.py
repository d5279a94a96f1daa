"""nnlib.data: the toy named-entity corpus and the 2-D classification sets."""

import numpy as np
import pytest

from nnlib import data


@pytest.fixture(scope="module")
def ner():
    return data.ner_dataset(n_train=200, n_test=60, seed=0)


def test_ner_is_deterministic_for_a_seed(ner):
    again = data.ner_dataset(n_train=200, n_test=60, seed=0)
    for a, b in zip(ner, again):
        np.testing.assert_array_equal(a.windows, b.windows)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.vocab == b.vocab
    other = data.ner_dataset(n_train=200, n_test=60, seed=1)[0]
    assert not np.array_equal(other.windows, ner[0].windows)


def test_one_five_word_window_per_word(ner):
    train, test = ner
    for split in (train, test):
        n_words = sum(len(s) for s in split.sentences)
        assert split.windows.shape == (n_words, 5)
        assert split.labels.shape == (n_words,)
        assert split.windows.dtype.kind == "i" and set(np.unique(split.labels)) == {0, 1}


def test_labels_mark_location_centre_words(ner):
    train, _ = ner
    words = train.words
    centres = [words[i] for i in train.windows[:, 2]]
    tagged = [is_loc for sentence in train.sentences for _, is_loc in sentence]
    assert train.labels.tolist() == [int(t) for t in tagged]
    for centre, label in zip(centres, train.labels):
        if centre != data.UNK:  # <unk> stands for a city or for an open-class word
            assert (centre in data.LOCATIONS) == bool(label), centre


def test_unk_is_seen_in_training_in_both_classes():
    train, _ = data.ner_dataset(seed=0)
    unk = train.windows[:, 2] == train.vocab[data.UNK]
    on_cities, on_words = np.sum(unk & (train.labels == 1)), np.sum(unk & (train.labels == 0))
    n_cities = train.labels.sum()
    assert 0.15 * n_cities < on_cities < 0.35 * n_cities      # unk_city_rate = 0.25
    assert on_words > 0.5 * on_cities
    original = data.ner_sentences(400, seed=0, locations=data.LOCATIONS[:25])
    replaced = {w for s0, s1 in zip(original, train.sentences)
                for (w, _), (v, _) in zip(s0, s1) if v == data.UNK}
    assert replaced <= set(data.LOCATIONS) | data.OPEN_CLASS   # never a word of the templates
    none, _ = data.ner_dataset(seed=0, unk_city_rate=0.0, unk_word_rate=0.0)
    assert not np.any(none.windows == none.vocab[data.UNK])


def test_test_set_does_not_leak_the_label():
    for seed in (0, 1, 2):
        train, test = data.ner_dataset(seed=seed)
        unk = test.windows[:, 2] == train.vocab[data.UNK]
        # "location iff the centre is <unk>" must be far from perfect
        precision = np.sum(unk & (test.labels == 1)) / unk.sum()
        assert np.all(test.labels[~unk] == 0) and precision < 0.7, (seed, precision)
        # unseen non-location words, and a template that training never uses
        tokens = {w for s in data.ner_sentences(150, seed=seed + 1, locations=data.LOCATIONS[25:],
                                                templates=data.TEMPLATES + data.HELD_OUT_TEMPLATES,
                                                extra_words=data.HELD_OUT_WORDS) for w, _ in s}
        assert tokens & set(data.HELD_OUT_WORDS["person"]) and not set(train.vocab) & {"castles", "noor"}
        shapes = {tuple("L" if y else w for w, y in s) for s in test.sentences}
        assert ("<unk>", "and", "<unk>", "flew", "to", "L") in shapes or any(
            s[3:5] == ("flew", "to") and s[1] == "and" for s in shapes)


def test_museums_in_paris_style_window(ner):
    train, _ = ner
    found = []
    for window, label in zip(train.windows, train.labels):
        w = train.decode(window).split()
        if w[1] == "in" and w[3] == "are" and w[0] in data.THINGS and w[4] in data.ADJECTIVES:
            found.append((w, label))
    assert found, "no '<thing> in <city> are <adjective>' window"
    assert all(label == 1 and (w[2] in data.LOCATIONS or w[2] == data.UNK) for w, label in found)


def test_windows_are_padded_at_sentence_edges(ner):
    train, _ = ner
    first = train.decode(train.windows[0]).split()
    assert first[:2] == [data.PAD, data.PAD] and first[2] == train.sentences[0][0][0]


def test_held_out_cities_are_unknown_words(ner):
    train, test = ner
    held_out = set(data.LOCATIONS[len(data.LOCATIONS) * 3 // 4:])
    assert held_out.isdisjoint(train.vocab)
    centres = test.windows[test.labels == 1, 2]
    assert np.all(centres == train.vocab[data.UNK])


def test_vocab_and_decode_are_inverse(ner):
    train, _ = ner
    assert train.vocab[data.PAD] == 0 and train.vocab[data.UNK] == 1
    assert [train.vocab[w] for w in train.words] == list(range(len(train.vocab)))
    sentence = [w for w, _ in train.sentences[3]]
    windows = train.windows[sum(len(s) for s in train.sentences[:3]):][:len(sentence)]
    assert [train.decode(w).split()[2] for w in windows] == sentence


def test_corrupt_windows_differ_only_at_the_centre(ner):
    train, _ = ner
    vocab_size = len(train.vocab)
    corrupt = data.corrupt_windows(train.windows, vocab_size, np.random.default_rng(0))
    assert corrupt.shape == train.windows.shape
    np.testing.assert_array_equal(np.delete(corrupt, 2, axis=1), np.delete(train.windows, 2, axis=1))
    assert np.all(corrupt[:, 2] != train.windows[:, 2])
    assert np.all(corrupt[:, 2] >= 2) and np.all(corrupt[:, 2] < vocab_size)  # never <pad> or <unk>
    again = data.corrupt_windows(train.windows, vocab_size, np.random.default_rng(0))
    np.testing.assert_array_equal(corrupt, again)


def test_make_windows_of_other_sizes_and_unknown_words():
    sentences = [[("a", False), ("b", True), ("c", False)]]
    vocab = {data.PAD: 0, data.UNK: 1, "a": 2, "b": 3}
    windows, labels = data.make_windows(sentences, vocab, window=3)
    np.testing.assert_array_equal(windows, [[0, 2, 3], [2, 3, 1], [3, 1, 0]])
    np.testing.assert_array_equal(labels, [0, 1, 0])
    with pytest.raises(ValueError, match="odd positive size, got 4"):
        data.make_windows(sentences, vocab, window=4)


@pytest.mark.parametrize(("n_per_class", "n_classes"), [(100, 3), (40, 5)])
def test_spirals(n_per_class, n_classes):
    X, y = data.spirals(n_per_class, n_classes, seed=0)
    assert X.shape == (n_per_class * n_classes, 2) and y.shape == (n_per_class * n_classes,)
    np.testing.assert_array_equal(np.bincount(y), [n_per_class] * n_classes)
    assert np.all(np.hypot(*X.T) <= 1.0 + 1e-12)  # radii run from 0 to 1
    np.testing.assert_array_equal(X, data.spirals(n_per_class, n_classes, seed=0)[0])


@pytest.mark.parametrize("make", [data.moons, data.circles])
@pytest.mark.parametrize("n", [200, 201])
def test_moons_and_circles(make, n):
    X, y = make(n, seed=0)
    assert X.shape == (n, 2) and y.shape == (n,)
    assert sorted(np.bincount(y).tolist()) == [n // 2, n - n // 2]
    np.testing.assert_array_equal(X, make(n, seed=0)[0])
    assert not np.array_equal(X, make(n, seed=1)[0])


def test_circles_inner_disc_is_smaller():
    X, y = data.circles(400, noise=0.0, factor=0.4)
    np.testing.assert_allclose(np.hypot(*X[y == 1].T), 0.4)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    with pytest.raises(ValueError, match="factor"):
        data.circles(factor=1.5)


def test_split():
    X, y = data.moons(100, seed=0)
    X_tr, y_tr, X_te, y_te = data.split(X, y, fraction=0.7, seed=0)
    assert len(X_tr) == 70 and len(X_te) == 30
    together = np.vstack([X_tr, X_te])
    assert sorted(map(tuple, together)) == sorted(map(tuple, X))
