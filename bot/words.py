"""What the front ends say, in English and Chinese: one source for every fixed text."""

from retrieval.text import Language, clamp

WORDS: dict[str, dict[Language, str]] = {
    "intro": {
        "en": "I answer questions from a document collection with the exact passages I found, "
        "each cited. Ask in English or Chinese.",
        "zh": "我根据文档库回答问题，给出找到的原文段落并逐条注明出处。可以用中文或英文提问。",
    },
    "docs": {"en": "Documents I know:", "zh": "我掌握的文档："},
    "how": {
        "en": "Just type a question. In groups use /ask QUESTION, mention me, or reply to me.\n"
        'Follow-up questions ("Why was it never held?", "And the second one?") keep the '
        "subject of the conversation; /new starts over.\n"
        "/sources lists the documents, /doc NAME restricts questions to one (/doc alone "
        "clears it), /why shows the scores behind the last answer.",
        "zh": "直接输入问题即可。在群组中请用 /ask 问题、@我 或回复我的消息。\n"
        "追问（如“那次会议为什么没有开成？”“第二届呢？”）会沿用对话的主题；/new 开始新的对话。\n"
        "/sources 列出文档，/doc 名称 只在该文档中查找（单独 /doc 取消），"
        "/why 显示上一个回答的检索分数。",
    },
    "ask_usage": {"en": "Usage: /ask QUESTION", "zh": "用法：/ask 问题"},
    "answer": {"en": "Answer: ", "zh": "答："},
    "writing": {
        "en": "(writing, not yet checked against the passages) ",
        "zh": "（正在撰写，尚未与原文核对）",
    },
    "not_found": {
        "en": "The documents do not answer this question.",
        "zh": "文档中没有找到这个问题的答案。",
    },
    "closest_heading": {
        "en": "Closest passages (they may not answer the question):",
        "zh": "最接近的段落（不一定回答了这个问题）：",
    },
    "show_closest": {"en": "Show the closest passages", "zh": "查看最接近的段落"},
    "covers": {"en": "The collection covers:", "zh": "本资料库包含："},
    "text_only": {"en": "I can only answer text questions.", "zh": "我只能回答文字问题。"},
    "admins_only": {
        "en": "Adding and removing documents is for this bot's admins; you can ask questions.",
        "zh": "只有本机器人的管理员可以添加或删除文档；您可以提问。",
    },
    "add_usage": {
        "en": "Send me a .pdf, .docx, .txt, .md or .html file to add it (in a group, with /add "
        "as its caption).",
        "zh": "把 .pdf、.docx、.txt、.md 或 .html 文件发给我即可添加"
        "（在群组中请以 /add 作为文件说明）。",
    },
    "reading": {"en": "Reading {name}…", "zh": "正在读取 {name}…"},
    "indexing": {"en": "Indexing {n} passages…", "zh": "正在索引 {n} 个段落…"},
    "added": {
        "en": "Added: {title}, {n} passages. Questions find it now.",
        "zh": "已添加：{title}，共 {n} 个段落。现在可以就它提问了。",
    },
    "not_added": {"en": "Not added: {why}", "zh": "未添加：{why}"},
    "download_failed": {
        "en": "The download of {name} failed ({why}); nothing was added. Send it again.",
        "zh": "{name} 下载失败（{why}），没有添加任何内容。请重新发送。",
    },
    "remove_usage": {
        "en": "Usage: /remove NAME (a file name or title that /sources lists)",
        "zh": "用法：/remove 名称（/sources 列出的文件名或标题）",
    },
    "remove_confirm": {
        "en": "Remove {title} ({name}, {n} passages) from the collection?",
        "zh": "要从资料库中删除 {title}（{name}，{n} 个段落）吗？",
    },
    "remove_yes": {"en": "Remove", "zh": "删除"},
    "remove_no": {"en": "Keep", "zh": "保留"},
    "remove_kept": {"en": "Kept: {title}.", "zh": "已保留：{title}。"},
    "remove_gone": {
        "en": "That document is no longer in the collection.",
        "zh": "该文档已不在资料库中。",
    },
    "removing": {"en": "Removing {title}…", "zh": "正在删除 {title}…"},
    "removed": {"en": "Removed: {title}.", "zh": "已删除：{title}。"},
    "not_removed": {
        "en": "Removing {title} did not finish ({why}); the next ingest completes it.",
        "zh": "删除 {title} 未完成（{why}）；下一次索引会完成它。",
    },
    "added_by": {"en": "added by {by}, {at}", "zh": "由 {by} 于 {at} 添加"},
    # why a file is not added (ingest/library.py REASONS, in the same order)
    "refused_too_big": {
        "en": "{name} is {mb:.1f} MB, over the {limit} MB limit",
        "zh": "{name} 有 {mb:.1f} MB；只能添加不超过 {limit} MB 的文档",
    },
    "refused_unsupported": {
        "en": "citeqa reads {kinds} files; {name} is {holds}",
        "zh": "citeqa 只读取 {kinds} 文件；{name} 是{holds}",
    },
    "refused_wrong_kind": {
        "en": "{name} is named as {named} but holds {holds}",
        "zh": "{name} 的名称表明是{named}，内容却是{holds}",
    },
    "refused_unreadable": {"en": "{name} cannot be read: {why}", "zh": "无法读取 {name}：{why}"},
    "refused_duplicate": {
        "en": "{name} is already in the collection as {held}",
        "zh": "{name} 已在资料库中，名为 {held}",
    },
    "refused_ambiguous": {"en": "{name} could be {choices}", "zh": "{name} 可能是：{choices}"},
    "refused_unknown": {"en": "no document is called {name}", "zh": "没有名为 {name} 的文档"},
    "refused_outside": {
        "en": "{name} is not a document of the collection",
        "zh": "{name} 不是资料库中的文档",
    },
    "denied": {
        "en": "Sorry, this bot is private. Ask its operator to add you.",
        "zh": "抱歉，这是一个私有机器人。请联系管理员把您加入名单。",
    },
    "slow_down": {
        "en": "You are asking faster than I can take ({rate}). Try again in {wait} s.",
        "zh": "提问太频繁了（{rate}）。请 {wait} 秒后再试。",
    },
    "doc_set": {"en": "Questions now search only: {title}", "zh": "现在只在此文档中查找：{title}"},
    "doc_cleared": {"en": "Questions now search all documents.", "zh": "现在在全部文档中查找。"},
    "doc_unknown": {
        "en": "No single document matches {name!r}. Use /sources to see the names.",
        "zh": "没有唯一匹配 {name!r} 的文档。请用 /sources 查看文档名。",
    },
    "searched_as": {"en": "Searched as: {text}", "zh": "按此检索：{text}"},
    "new_conversation": {
        "en": "New conversation: the next question starts fresh.",
        "zh": "已开始新的对话：下一个问题将重新开始。",
    },
    "no_last": {"en": "Ask a question first.", "zh": "请先提一个问题。"},
    "expired": {
        "en": "This button has expired: ask the question again.",
        "zh": "此按钮已过期，请重新提问。",
    },
    "no_more": {"en": "No further passages.", "zh": "没有更多段落了。"},
    "more": {"en": "More results", "zh": "更多结果"},
    "error": {
        "en": "Sorry, something went wrong on my side. Please try again.",
        "zh": "抱歉，我这边出了问题，请再试一次。",
    },
}
# How two sentences are joined on one line: Chinese needs no space after its full stop.
SENTENCE_GAP: dict[Language, str] = {"en": " ", "zh": ""}


# what a file holds (ingest/library.py), as the reasons above name it
KIND_WORDS: dict[Language, dict[str, str]] = {
    "en": {},
    "zh": {
        "a PDF": "PDF 文件",
        "a Word document (.docx)": "Word 文档（.docx）",
        "text": "文本",
        "binary data": "二进制数据",
        "a ZIP archive": "ZIP 压缩包",
        "a broken ZIP archive": "损坏的 ZIP 压缩包",
    },
}


def say(key: str, lang: Language, **values: object) -> str:
    """Return the front ends' own words in the user's language; text put into them (a
    document name a user typed, a question) is clamped, never echoed whole."""
    return WORDS[key][lang].format(
        **{k: clamp(v) if isinstance(v, str) else v for k, v in values.items()}
    )
