from audit.reports.md_text import md_escape


def test_data_strings_cannot_mention_people_in_a_pr_comment() -> None:
    assert "@" not in md_escape("ping @security-team")
    assert "&#64;security-team" in md_escape("ping @security-team")
