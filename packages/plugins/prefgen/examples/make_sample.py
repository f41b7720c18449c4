"""Write examples/sample_articles.json: three short articles in the seed's input shape
({"artifact_data": [{id, content, platform, author_id, author_full_name, link}]}).

The articles are written for hooklab (no scraped text); run this script to regenerate the file.
"""

from __future__ import annotations

import json
from pathlib import Path

ARTICLES = [
    ("Why preference data matters", """Why preference data matters | hooklab notes
Supervised fine-tuning teaches a model to imitate good answers, but it never shows the model what a worse answer looks like. Preference optimization fills that gap. Each training example pairs one prompt with a chosen answer and a rejected answer, and the model learns to raise the likelihood of the first relative to the second. Direct Preference Optimization does this without training a separate reward model, which makes it cheap enough to run on a single GPU.
The quality of the pairs decides almost everything. If the chosen answer is only slightly better than the rejected one, the signal is weak and the model learns little. If the two answers differ in length or style rather than in content, the model learns to prefer length or style. A useful pair differs in exactly the property you care about, such as factual grounding, tone, or format.
One cheap way to build such pairs is to ask a strong model for a question about a passage, an answer written in its own words, and an excerpt copied from the passage. The excerpt becomes the chosen answer because it is grounded in the source text. The generated answer becomes the rejected answer because it drifts toward the generic style of the generating model. Training on these pairs pushes a small model toward the voice of the source documents.
The method has known weaknesses. The generating model sometimes paraphrases when it was told to copy, so every extracted answer must be checked against the passage. Short excerpts carry little information, so samples below a length threshold are dropped. Fragments that start in the middle of a sentence or stop without punctuation are removed as well. After these filters, about half of the generated samples usually survive.
Finally, a preference dataset should be inspected by a person before training. Read fifty random pairs. If you would not prefer the chosen answer yourself, the model will not learn what you hoped it would learn."""),
    ("Chunking documents for generation", """Chunking documents for generation
Language models answer better when the context they read is focused. A whole article is too long for a single request and mixes many topics, so the text is first cut into chunks. A good chunk is long enough to contain a complete idea and short enough that every part of it can be used. Between one thousand and two thousand characters works well for blog posts.
Chunks should end where sentences end. A chunk that stops in the middle of a sentence invites the model to copy a fragment, and fragments fail the format filters later. The splitter therefore reads the cleaned text sentence by sentence and adds sentences to the current chunk while it stays under the maximum length. When the next sentence would not fit, the current chunk is closed and a new one begins.
Cleaning comes first. Web pages carry navigation menus, markdown symbols, and stray characters that waste tokens and confuse the model. The cleaning step keeps letters, digits, whitespace, and a few punctuation marks, and it collapses runs of spaces. This is crude, but it is predictable, and predictable preprocessing makes the verbatim check reliable.
Requests are independent of each other, so they can run concurrently. A batch of five hundred requests that each take a few seconds finishes in minutes when thirty requests are in flight at once. Concurrency has a cost, though. Providers limit requests and tokens per minute, and a client that ignores those limits receives a storm of rate limit errors.
A robust runner waits when the server asks it to wait. It retries transient errors with exponential backoff and a little randomness, so that many clients do not retry at the same moment. It also records every finished request, because a long job that crashes near the end should not pay for its first half twice."""),
    ("Judging answers with a language model", """Judging answers with a language model
Human evaluation is the gold standard, but it is slow and expensive. A common substitute is to ask a strong language model to act as a judge. The judge sees an instruction and two answers and says which answer is better, or it gives a single answer a score from one to five.
Language model judges have biases that must be controlled. They tend to prefer the answer shown first, they tend to prefer longer answers, and they tend to prefer answers written in their own style. Position bias is the easiest to fix. Every comparison is run twice with the answers swapped, and a verdict counts only when both orders agree.
A judge also needs a clear rubric. Asking which answer is better invites vague reasoning. Asking which answer is more relevant, more accurate, more complete, clearer, and more concise gives the judge criteria it can apply consistently. The rubric should ask for a short justification before the verdict, because writing the reasons first tends to improve the verdict.
Judgements should be stored with the exact prompt, the model, and the raw output. When a result looks surprising, the raw output usually explains it. Storing everything also makes a judging run resumable, which matters when thousands of comparisons are needed.
Using several judges from different model families reduces the chance that one model's preferences dominate the evaluation. When the judges disagree often, the pairs are probably too similar to be useful for training."""),
]


def main() -> None:
    data = {"artifact_data": [
        {"id": f"article-{i + 1}", "content": f"{title}\n{body}", "platform": "hooklab.example",
         "author_id": "hooklab-docs", "author_full_name": "hooklab contributors",
         "link": f"https://hooklab.example/notes/{i + 1}"}
        for i, (title, body) in enumerate(ARTICLES)]}
    out = Path(__file__).with_name("sample_articles.json")
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
