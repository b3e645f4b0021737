from bot.text import escape, split_message


def test_escape_makes_html_looking_text_literal() -> None:
    assert escape("<b>hi</b> & <script>") == "&lt;b&gt;hi&lt;/b&gt; &amp; &lt;script&gt;"


def test_split_message_keeps_short_text_whole() -> None:
    assert split_message("hello") == ["hello"]


def test_split_message_cuts_long_text_at_paragraphs_within_the_limit() -> None:
    paragraph = ("The quick brown fox jumps over the lazy dog. " * 40).strip()
    text = "\n\n".join([paragraph] * 4)  # ~7,200 characters
    parts = split_message(text, 4096)
    assert len(parts) == 2
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(p.replace("\n", "") for p in parts) == text.replace("\n", "")


def test_split_message_falls_back_to_sentences_then_words() -> None:
    text = "Word " * 2000
    parts = split_message(text, 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert " ".join(parts).split() == text.split()
