"""The prompt-injection patterns Orion ships with, as data: (name, regular expression,
score, needles). Matched case-insensitively; each pattern counts once per message. Staff add their
own in the admin (``GuardPattern``); ``manage.py guard_check`` measures the effect of a
change on a labelled set. A score of ``FLAG_AT`` flags a message, ``BLOCK_AT`` blocks it.
"""

from __future__ import annotations

FLAG_AT = 1.0
BLOCK_AT = 2.0
# Added once when a pattern matched inside something a reader does not see: a markdown or
# HTML comment, base64, invisible "tag" characters.
HIDDEN_BONUS = 1.0
# Added once for invisible "tag" characters at all: nobody types them.
INVISIBLE_SCORE = 1.0

_VERBS_IGNORE = r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon)"
_WHICH = r"(?:previous|prior|above|earlier|preceding|all|any|your|the|original|initial|system)"
_RULES = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|programming|"
    r"constraints|restrictions|guardrails|system message)"
)

# (name, regular expression, score, needles): a pattern is tried only on text containing
# one of its needles (lower-cased words its expression cannot match without), which
# spares most messages most expressions.
DEFAULT_PATTERNS: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    (
        "ignore-instructions",
        rf"\b{_VERBS_IGNORE}\b[^.\n]{{0,40}}\b{_WHICH}\b[^.\n]{{0,30}}\b{_RULES}",
        2.5,
        ("ignore", "disregard", "forget", "override", "bypass", "skip", "drop", "abandon"),
    ),
    (
        "reveal-system-prompt",
        r"\b(?:reveal|show|print|repeat|display|output|leak|dump|recite|expose|share|"
        r"tell me|give me|write out|spell out)\b[^.\n]{0,40}\b(?:your|the|its)\s+"
        r"(?:system|initial|original|hidden|secret|developer|internal|full)\s+"
        r"(?:prompt|instructions?|message|rules|configuration)",
        2.5,
        ("system", "initial", "original", "hidden", "secret", "developer", "internal", "full"),
    ),
    (
        "what-is-your-prompt",
        r"\bwhat(?:'s| is| are| were)\s+your\s+(?:system\s+|initial\s+|original\s+|hidden\s+)?"
        r"(?:prompt|instructions)\b",
        2.0,
        ("prompt", "instructions"),
    ),
    (
        "repeat-text-above",
        r"\b(?:repeat|print|output|copy|reproduce|echo)\b[^.\n]{0,30}\b(?:everything|all|"
        r"the text|the words|the message|whatever|what (?:is|was) written)\b[^.\n]{0,30}"
        r"\b(?:above|before this|preceding)\b",
        2.0,
        ("above", "before this", "preceding"),
    ),
    (
        "new-instructions",
        r"\b(?:new|updated|real|actual|override|secret)\s+(?:instructions|system prompt|rules|"
        r"directives)\s*:",
        2.0,
        ("instructions", "system prompt", "rules", "directives"),
    ),
    (
        "forget-everything",
        r"\b(?:forget|disregard|ignore)\s+(?:everything|all)\s+(?:you\s+(?:were|have been)\s+"
        r"(?:told|taught|given|instructed)|(?:that\s+)?came before|above|before this)",
        2.5,
        ("forget", "disregard", "ignore"),
    ),
    (
        "do-anything-now",
        r"\bdo anything now\b|(?-i:\bDAN\b)[^.\n]{0,60}\b(?:no rules|no restrictions|jailbr|"
        r"mode)|\b(?:you are|you're|pretend to be|act as|play)\s+(?-i:DAN)\b",
        2.5,
        ("do anything now", "dan"),
    ),
    (
        "special-mode-on",
        r"\b(?:developer|debug|god|sudo|jailbreak|DAN)\s+mode\b[^.\n]{0,30}"
        r"\b(?:enabled|activated|unlocked|engaged)\b",
        2.0,
        ("mode",),
    ),
    (
        "enable-special-mode",
        r"\benable\s+(?:developer|god|sudo|jailbreak)\s+mode",
        1.0,
        ("mode",),
    ),
    (
        "pretend-unrestricted",
        r"\b(?:pretend|act|behave|roleplay|role-play|role play|imagine|simulate|become)\b"
        r"[^.\n]{0,40}\b(?:you are|you're|as|to be|being|an?)\b[^.\n]{0,60}"
        r"\b(?:no|without|free from|unrestricted|unfiltered|uncensored|evil|jailbroken|"
        r"not bound|amoral|immoral|unethical)\b",
        2.0,
        ("pretend", "act", "behave", "role", "imagine", "simulate", "become"),
    ),
    (
        "no-restrictions",
        r"\b(?:without|no|free of|free from|ignoring)\s+(?:any\s+)?(?:ethical\s+|moral\s+|"
        r"content\s+|safety\s+)?(?:restrictions|filters|filtering|censorship|guidelines|"
        r"limitations|rules|boundaries|guardrails)\b",
        1.0,
        (
            "restriction",
            "filter",
            "censorship",
            "guideline",
            "limitation",
            "rules",
            "boundaries",
            "guardrail",
        ),  # fmt: skip
    ),
    (
        "disable-safety",
        r"\b(?:disable|turn off|deactivate|remove|switch off|circumvent|bypass|get around)\b"
        r"[^.\n]{0,30}\b(?:safety|filters?|guardrails?|content polic(?:y|ies)|moderation|"
        r"restrictions|censorship)",
        2.0,
        ("safety", "filter", "guardrail", "polic", "moderation", "restriction", "censorship"),
    ),
    (
        "unrestricted-persona",
        r"\byou(?: are|'re)\s+(?:now\s+)?(?:an?\s+)?(?:uncensored|unfiltered|unrestricted|"
        r"jailbroken|evil|amoral|unethical|unaligned)\b",
        2.0,
        (
            "uncensored",
            "unfiltered",
            "unrestricted",
            "jailbroken",
            "evil",
            "amoral",
            "unethical",
            "unaligned",
        ),  # fmt: skip
    ),
    (
        "jailbreak-word",
        r"\bjailbr(?:eak|oken|eaking)\b",
        0.5,
        ("jailbr",),
    ),
    (
        "you-are-now",
        r"\byou are (?:now|no longer)\b|\bfrom now on,? you\b",
        1.0,
        ("you are now", "you are no longer", "from now on"),
    ),
    (
        "fake-role-tag",
        r"<\|?(?:system|im_start|im_end|endoftext)\|?>|\[/?(?:system|INST|SYS)\]|<</?SYS>>|"
        r"(?m:^\s*#{0,3}\s*system\s*:)",
        1.5,
        ("<|", "[", "<<", "system"),
    ),
    (
        "stay-in-character",
        r"\b(?:stay|remain) in character\b|\bnever break character\b",
        0.5,
        ("character",),
    ),
    (
        "answer-without-refusing",
        r"\b(?:never|don't|do not|cannot|can't|must not)\s+(?:refuse|decline|say no|"
        r"apologi[sz]e)\b",
        1.0,
        ("refuse", "decline", "say no", "apologi"),
    ),
)
