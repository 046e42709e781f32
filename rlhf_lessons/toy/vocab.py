"""The toy world's vocabulary: movie-review words, a few dozen of them.

Introduced in 01_rlhf_pipeline. Small enough that a GPT-2 with 100k parameters learns it in
seconds, rich enough that "good" writing (positive, varied, finished) can be told apart from
writing that only games a reward model (piling up positive words, repeating them).
"""

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIAL = [PAD, BOS, EOS]
PROMPT_WORDS = ["review", ":"]  # every prompt starts "<bos> review :"

POSITIVE = [
    "great", "good", "brilliant", "superb", "fun", "moving", "charming", "clever",
    "beautiful", "gripping", "fresh", "witty", "lovely", "stunning", "solid",
]  # fmt: skip
NEGATIVE = [
    "bad", "dull", "boring", "awful", "weak", "messy", "slow", "bland",
    "clumsy", "flat", "silly", "poor", "tedious", "stale", "cheap",
]  # fmt: skip
NEUTRAL = ["long", "short", "loud", "quiet", "simple", "strange", "dark", "typical"]
NOUNS = [
    "plot", "cast", "acting", "script", "music", "ending", "story", "film",
    "pace", "dialogue", "camera", "humor", "scenes", "characters", "visuals",
]  # fmt: skip
FILLERS = [
    "the", "and", "but", "was", "is", "very", "quite", "its",
    "a", "too", "so", "really", "also", "overall", "felt",
]  # fmt: skip

ADJECTIVES = POSITIVE + NEGATIVE + NEUTRAL
CONTENT_WORDS = set(ADJECTIVES + NOUNS)
WORDS = SPECIAL + PROMPT_WORDS + POSITIVE + NEGATIVE + NEUTRAL + NOUNS + FILLERS

assert len(set(WORDS)) == len(WORDS), "a word appears twice in the vocabulary"
