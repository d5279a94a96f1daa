"""Small, deterministic data for the course: no file is downloaded, ever.

* A toy named-entity corpus for the notes' running example ("Museums in Paris
  are amazing"): sentences built from templates and word lists with a seeded
  generator, 5-word windows around every word, labels (1 when the centre word
  is a location), corrupt windows for the max-margin objective, and a vocabulary.
  The held-out split does not give the answer away: it has unseen cities *and*
  unseen ordinary words (both ``<unk>``), and templates never used in training;
  the training split meets ``<unk>`` too, in place of some cities and some
  open-class words.
* 2-D non-linear classification sets: spirals, moons and circles.
"""

from dataclasses import dataclass

import numpy as np

PAD = "<pad>"
UNK = "<unk>"

LOCATIONS = (
    "paris", "london", "rome", "berlin", "madrid", "vienna", "prague", "lisbon", "dublin",
    "oslo", "cairo", "lagos", "nairobi", "tokyo", "seoul", "delhi", "lima", "quito",
    "boston", "denver", "chicago", "sydney", "perth", "auckland", "toronto", "montreal",
    "athens", "warsaw", "budapest", "helsinki", "bangkok", "hanoi", "manila", "havana",
)
THINGS = (
    "museums", "parks", "markets", "bridges", "cafes", "trains", "streets", "gardens",
    "libraries", "theatres", "beaches", "bakeries", "galleries", "concerts", "festivals",
)
PEOPLE = ("anna", "omar", "li", "maria", "kofi", "sven", "priya", "tom", "yuki", "ines")
ADJECTIVES = ("amazing", "crowded", "quiet", "beautiful", "expensive", "old", "famous", "busy")
VERBS = ("visited", "left", "loves", "toured", "photographed", "described", "remembers")
TEMPLATES = (
    "{thing} in {loc} are {adj}",
    "not all {thing} in {loc} are {adj}",
    "{person} {verb} {loc} last year",
    "{person} flew from {loc} to {loc2}",
    "the {thing} of {loc} are {adj}",
    "{person} says {thing} near {loc} are {adj}",
    "we {verb} the {thing} in {loc} twice",
    "{loc} has {adj} {thing} and {adj2} {thing2}",
    "{person} moved to {loc} in may",
    "{person} {verb} the {adj} {thing}",
    "the {thing} are {adj} and {adj2}",
    "{person} and {person2} {verb} the {thing}",
)
# Used only in held-out sentences: templates and open-class words that training never shows.
HELD_OUT_TEMPLATES = (
    "{person} and {person2} flew to {loc}",
    "{thing} near {loc} and {loc2} are {adj}",
)
HELD_OUT_WORDS = {
    "thing": ("castles", "harbours", "temples", "towers", "squares"),
    "person": ("noor", "ravi", "elena", "jonas", "amara"),
    "adj": ("lovely", "noisy", "modern", "grand"),
    "verb": ("painted", "filmed", "praised"),
}


@dataclass
class NERWindows:
    """Windows of word indices with labels, and their vocabulary.

    windows (N, window) int, labels (N,) int in {0, 1}, sentences: the tokens,
    vocab: word -> index (index 0 is the padding word, 1 the unknown word).
    """

    windows: np.ndarray
    labels: np.ndarray
    vocab: dict
    sentences: list

    @property
    def words(self):
        """Index -> word, the inverse of ``vocab``."""
        return sorted(self.vocab, key=self.vocab.get)

    def decode(self, window):
        words = self.words
        return " ".join(words[i] for i in window)

    def config(self):
        """Plain data that rebuilds these windows with :meth:`from_config` (the arrays as they are)."""
        return {"windows": self.windows, "labels": self.labels, "vocab": self.vocab,
                "sentences": self.sentences}

    @classmethod
    def from_config(cls, cfg):
        """The windows :meth:`config` describes."""
        if not isinstance(cfg, dict) or set(cfg) != {"windows", "labels", "vocab", "sentences"}:
            raise ValueError("NERWindows config: expected the keys labels, sentences, vocab, windows")
        return cls(**cfg)


def ner_sentences(n_sentences=400, seed=0, locations=LOCATIONS, templates=TEMPLATES, extra_words=None):
    """``n_sentences`` lists of (word, is_location) pairs drawn from the templates.

    ``extra_words`` maps a slot ("thing", "person", "adj", "verb") to more words that may
    fill it, next to the standard lists (the held-out split uses ``HELD_OUT_WORDS``).
    """
    rng = np.random.default_rng(seed)
    extra = extra_words or {}
    things, people = THINGS + tuple(extra.get("thing", ())), PEOPLE + tuple(extra.get("person", ()))
    adjectives, verbs = ADJECTIVES + tuple(extra.get("adj", ())), VERBS + tuple(extra.get("verb", ()))

    def pick(options):
        return options[rng.integers(len(options))]

    sentences = []
    for _ in range(n_sentences):
        template = pick(templates)
        loc, loc2 = rng.choice(len(locations), size=2, replace=False)
        fills = {
            "loc": locations[loc], "loc2": locations[loc2],
            "thing": pick(things), "thing2": pick(things), "adj": pick(adjectives),
            "adj2": pick(adjectives), "person": pick(people), "person2": pick(people),
            "verb": pick(verbs),
        }
        tagged = []
        for slot in template.split():
            word = slot.format(**fills)
            tagged.append((word, slot in ("{loc}", "{loc2}")))
        sentences.append(tagged)
    return sentences


def build_vocab(sentences):
    """word -> index over the words of ``sentences``, in order of first appearance."""
    vocab = {PAD: 0, UNK: 1}
    for sentence in sentences:
        for word, _ in sentence:
            vocab.setdefault(word, len(vocab))
    return vocab


def make_windows(sentences, vocab, window=5):
    """One window centred on every word; words outside the vocabulary map to <unk>."""
    if window % 2 != 1 or window < 1:
        raise ValueError(f"window: expected an odd positive size, got {window!r}")
    half = window // 2
    rows, labels = [], []
    for sentence in sentences:
        ids = [vocab.get(w, vocab[UNK]) for w, _ in sentence]
        padded = [vocab[PAD]] * half + ids + [vocab[PAD]] * half
        for i, (_, is_loc) in enumerate(sentence):
            rows.append(padded[i:i + window])
            labels.append(int(is_loc))
    return np.array(rows, dtype=np.int64).reshape(-1, window), np.array(labels, dtype=np.int64)


OPEN_CLASS = frozenset(THINGS + PEOPLE + ADJECTIVES + VERBS)


def unk_replace(sentences, rng, city_rate=0.25, word_rate=0.1, words=OPEN_CLASS):
    """Copies of ``sentences`` in which a random fraction of tokens became ``<unk>``.

    Each location token is replaced with probability ``city_rate``, each token of one of
    ``words`` (the open-class words: rarer than the words of the templates) with
    probability ``word_rate``; labels are kept. Training on such sentences gives the
    ``<unk>`` vector a meaning, and a meaning that is not "location".
    """
    out = []
    for sentence in sentences:
        draws = rng.random(len(sentence))
        new = []
        for (word, is_loc), u in zip(sentence, draws):
            rate = city_rate if is_loc else (word_rate if word in words else 0.0)
            new.append((UNK if u < rate else word, is_loc))
        out.append(new)
    return out


def ner_dataset(n_train=400, n_test=150, window=5, seed=0, unk_city_rate=0.25, unk_word_rate=0.1):
    """Train and held-out windows that do not give the answer away.

    * The held-out sentences use locations unseen in training, open-class words unseen
      in training (``HELD_OUT_WORDS``: both kinds are ``<unk>`` there), and two templates
      (``HELD_OUT_TEMPLATES``) next to the training ones, so "the centre word is ``<unk>``"
      does not mean "location".
    * In the training sentences a fraction of the location tokens (``unk_city_rate``) and of
      the open-class words (``unk_word_rate``) is replaced by ``<unk>`` (:func:`unk_replace`,
      with a generator of its own), so the model sees ``<unk>`` in both classes.

    Returns ``(train, test)`` as :class:`NERWindows` sharing the vocabulary of the training
    words (built before the replacement; ``sentences`` holds the tokens the windows show).
    """
    split = len(LOCATIONS) * 3 // 4
    train_sents = ner_sentences(n_train, seed=seed, locations=LOCATIONS[:split])
    test_sents = ner_sentences(n_test, seed=seed + 1, locations=LOCATIONS[split:],
                               templates=TEMPLATES + HELD_OUT_TEMPLATES, extra_words=HELD_OUT_WORDS)
    vocab = build_vocab(train_sents)
    seen = unk_replace(train_sents, np.random.default_rng([seed, 16]), unk_city_rate, unk_word_rate)
    train = NERWindows(*make_windows(seen, vocab, window), vocab, seen)
    test_seen = [[(w if w in vocab else UNK, y) for w, y in s] for s in test_sents]
    test = NERWindows(*make_windows(test_seen, vocab, window), vocab, test_seen)
    return train, test


def corrupt_windows(windows, vocab_size, rng, exclude=(0, 1)):
    """Copies of ``windows`` with the centre word replaced by a random other word.

    These are the "false" windows x_c of §1.4: a true window should outscore its
    corruption by the margin Δ. Padding and <unk> are never drawn.
    """
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] % 2 != 1:
        raise ValueError(f"windows: expected shape (N, odd window), got {windows.shape}")
    allowed = np.setdiff1d(np.arange(vocab_size), np.asarray(exclude))
    centre = windows.shape[1] // 2
    corrupt = windows.copy()
    draws = allowed[rng.integers(len(allowed), size=len(windows))]
    same = draws == windows[:, centre]
    while same.any():  # the corruption must differ from the original word
        draws[same] = allowed[rng.integers(len(allowed), size=int(same.sum()))]
        same = draws == windows[:, centre]
    corrupt[:, centre] = draws
    return corrupt


# --- 2-D non-linear data -------------------------------------------------------------

def spirals(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms: X (n_per_class·n_classes, 2), y (same,) in [0, n_classes)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + noise * rng.standard_normal(n_per_class)
        X.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        y.append(np.full(n_per_class, c))
    return np.vstack(X), np.concatenate(y)


def moons(n_samples=200, noise=0.1, seed=0):
    """Two interleaving half circles: X (n_samples, 2), y (n_samples,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    n_top = n_samples // 2
    n_bottom = n_samples - n_top
    t_top = np.linspace(0, np.pi, n_top)
    t_bottom = np.linspace(0, np.pi, n_bottom)
    top = np.column_stack([np.cos(t_top), np.sin(t_top)])
    bottom = np.column_stack([1 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)])
    X = np.vstack([top, bottom]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_top, int), np.ones(n_bottom, int)])
    return X, y


def circles(n_samples=200, noise=0.05, factor=0.5, seed=0):
    """A disc inside a ring: X (n_samples, 2), y (n_samples,) with 1 for the inner disc."""
    if not 0 < factor < 1:
        raise ValueError(f"factor: expected 0 < factor < 1, got {factor!r}")
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = factor * np.column_stack([np.cos(t_in), np.sin(t_in)])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_out, int), np.ones(n_in, int)])
    return X, y


def split(X, y, fraction=0.7, seed=0):
    """Shuffle and split into (X_train, y_train, X_test, y_test)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    cut = int(round(fraction * len(X)))
    tr, te = order[:cut], order[cut:]
    return X[tr], y[tr], X[te], y[te]
