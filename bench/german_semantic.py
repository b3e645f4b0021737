"""Should German questions use the semantic cache? The bundled embedder (all-MiniLM-L6-v2) is English-trained.

    .venv/bin/python bench/german_semantic.py

The same ten cafe intents, each with a canonical question and three paraphrases, written in English and in
German, plus questions that must not be served any of them (near misses: another item, another day, another
diet). Each language stores its canonical questions; every paraphrase and near miss is looked up by cosine
similarity against them, at SEMANTIC_CACHE_THRESHOLD (0.54) and across a sweep. Figures: paraphrase hit rate
(served its own intent), wrong-hit rate (a near miss or a paraphrase served anything else), and how many German
questions `guess_language` recognises (those skip the semantic cache whatever the customer's language setting).
This measures similarity alone; the cache's rules (an English dictionary of the menu) come on top for English.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings
from bot.semantic.embedder import SentenceTransformerEmbedder
from bot.semantic.sharing import guess_language

EN: dict[str, list[str]] = {
    "hours": ["What are your opening hours?", "When are you open?", "What time do you open and close?",
              "How late are you open?"],
    "wifi": ["What is the wifi password?", "Do you have wifi?", "How do I get on the internet here?",
             "Can I use your wifi?"],
    "vegan": ["Do you have vegan options?", "What can I eat as a vegan?", "Anything plant-based on the menu?",
              "Which dishes are vegan?"],
    "gluten": ["Do you have gluten-free food?", "What is gluten free?", "Anything without gluten?",
               "I'm coeliac, what can I eat?"],
    "address": ["Where are you located?", "What is your address?", "How do I find the cafe?",
                "Where exactly is the cafe?"],
    "flatwhite": ["How much is a flat white?", "What does a flat white cost?", "Price of a flat white?",
                  "Flat white, how much?"],
    "dogs": ["Are dogs allowed?", "Can I bring my dog?", "Is the cafe dog friendly?", "Are pets welcome?"],
    "payment": ["Can I pay by card?", "Do you take cards?", "Is cash the only option?", "Do you accept Apple Pay?"],
    "oatmilk": ["Do you have oat milk?", "Is there oat milk for coffee?", "Can I get my latte with oat milk?",
                "Any plant milk?"],
    "cake": ["What cakes do you have?", "Which cakes are there today?", "Do you sell cake?",
             "What desserts do you have?"],
}
DE: dict[str, list[str]] = {
    "hours": ["Wann habt ihr geöffnet?", "Was sind eure Öffnungszeiten?", "Wann macht ihr auf und zu?",
              "Bis wann habt ihr offen?"],
    "wifi": ["Wie ist das WLAN-Passwort?", "Habt ihr WLAN?", "Wie komme ich hier ins Internet?",
             "Kann ich euer WLAN benutzen?"],
    "vegan": ["Habt ihr vegane Gerichte?", "Was kann ich als Veganer essen?", "Gibt es etwas Pflanzliches?",
              "Welche Gerichte sind vegan?"],
    "gluten": ["Habt ihr glutenfreies Essen?", "Was ist glutenfrei?", "Gibt es etwas ohne Gluten?",
               "Ich habe Zöliakie, was kann ich essen?"],
    "address": ["Wo seid ihr?", "Wie ist eure Adresse?", "Wie finde ich das Café?", "Wo genau ist das Café?"],
    "flatwhite": ["Was kostet ein Flat White?", "Wie teuer ist ein Flat White?", "Preis für einen Flat White?",
                  "Flat White, wie viel?"],
    "dogs": ["Sind Hunde erlaubt?", "Darf ich meinen Hund mitbringen?", "Ist das Café hundefreundlich?",
             "Sind Haustiere willkommen?"],
    "payment": ["Kann ich mit Karte zahlen?", "Nehmt ihr Karten?", "Geht nur Bargeld?", "Nehmt ihr Apple Pay?"],
    "oatmilk": ["Habt ihr Hafermilch?", "Gibt es Hafermilch für den Kaffee?",
                "Kann ich den Latte mit Hafermilch haben?", "Habt ihr Pflanzenmilch?"],
    "cake": ["Welche Kuchen habt ihr?", "Was für Kuchen gibt es heute?", "Verkauft ihr Kuchen?",
             "Was habt ihr zum Nachtisch?"],
}
NEAR_MISSES = {
    "en": ["How much is a cappuccino?", "Are you open on Christmas Day?", "Do you have lactose-free milk?",
           "Can I bring my cat?", "Do you sell coffee beans?", "Is there parking nearby?", "Do you have a toilet?",
           "How much is a latte?", "Can I book a table?", "Do you have high chairs?"],
    "de": ["Was kostet ein Cappuccino?", "Habt ihr an Weihnachten offen?", "Habt ihr laktosefreie Milch?",
           "Darf ich meine Katze mitbringen?", "Verkauft ihr Kaffeebohnen?", "Gibt es Parkplätze in der Nähe?",
           "Habt ihr eine Toilette?", "Was kostet ein Latte?", "Kann ich einen Tisch reservieren?",
           "Habt ihr Kinderstühle?"],
}
THRESHOLDS = (0.45, 0.50, 0.54, 0.60, 0.65, 0.70, 0.75, 0.80)


def measure(embedder: SentenceTransformerEmbedder, clusters: dict[str, list[str]], near: list[str],
            threshold: float) -> tuple[float, float, float]:
    names = list(clusters)
    stored = embedder.encode([clusters[n][0] for n in names])
    questions = [(n, q) for n in names for q in clusters[n][1:]] + [(None, q) for q in near]
    vectors = embedder.encode([q for _, q in questions])
    sims = vectors @ stored.T
    right = wrong = 0
    paraphrases = sum(1 for n, _ in questions if n is not None)
    for (cluster, _), row in zip(questions, sims, strict=True):
        best = int(np.argmax(row))
        if row[best] < threshold:
            continue
        if cluster is not None and names[best] == cluster:
            right += 1
        else:
            wrong += 1
    own = [float(sims[i][names.index(c)]) for i, (c, _) in enumerate(questions) if c is not None]
    return right / paraphrases, wrong / len(questions), float(np.median(own))


def main() -> None:
    embedder = SentenceTransformerEmbedder(Settings(_env_file=None).embedding_model)  # type: ignore[call-arg]
    embedder.load()
    threshold = Settings(_env_file=None).semantic_cache_threshold  # type: ignore[call-arg]
    print(f"model {embedder.model_id}, threshold {threshold}")
    print("lang  threshold  paraphrase-hit  wrong-hit  median-own-similarity")
    for lang, clusters in (("en", EN), ("de", DE)):
        for t in THRESHOLDS:
            hit, wrong, median = measure(embedder, clusters, NEAR_MISSES[lang], t)
            mark = " <- setting" if abs(t - threshold) < 1e-9 else ""
            print(f"{lang}    {t:.2f}       {hit:6.1%}          {wrong:6.1%}     {median:.3f}{mark}")
    german = [q for qs in DE.values() for q in qs] + NEAR_MISSES["de"]
    caught = sum(guess_language(q) != "en" for q in german)
    print(f"guess_language: {caught}/{len(german)} German questions recognised as not English")
    cross = embedder.encode([qs[0] for qs in DE.values()]) @ embedder.encode([qs[0] for qs in EN.values()]).T
    print(f"German question vs the same English question: median similarity {float(np.median(np.diag(cross))):.3f}")


if __name__ == "__main__":
    main()
