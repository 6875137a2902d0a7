"""``HF_TASK`` for the Hugging Face inference toolkit's default handler, when it could not tell the model's task.

Without an entry script of the user's, the toolkit (``sagemaker_huggingface_inference_toolkit``) builds a
transformers pipeline: its task is ``HF_TASK``, else inferred from ``config.json``'s first architecture by suffix
(``...ForSequenceClassification`` → text-classification, its ``ARCHITECTURES_2_TASK``). A bare encoder
(``XLMRobertaModel``), a custom architecture (``ReplitLM``, loaded with ``trust_remote_code``) or a task the toolkit's
transformers does not know fails every worker ("Task couldn't be inferenced from ...", "You need to define one of the
following [...] as env 'HF_TASK'").

The task is read from what the archive says of the model, most explicit first:

1. the model card's ``pipeline_tag`` (``README.md``'s front matter: the author's statement, and the hub's);
2. ``config.json``'s ``auto_map``: the transformers auto class a custom architecture registers for
   (``AutoModelForCausalLM`` → text-generation);
3. a bare encoder (an architecture ending in ``Model``, ``AutoModel`` only): feature-extraction, the task that
   returns its embeddings.

A task the toolkit's own message says it does not support, or the one already set that failed, is never proposed.
When the archive holds an entry script that defines the handlers, the toolkit did not find it (the default handler
ran): the remedy is where the script goes, not a task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["ARCHITECTURES_2_TASK", "hf_task_failure", "propose_task"]

#: The toolkit's own table (transformers_utils.ARCHITECTURES_2_TASK): the suffixes it infers a task from.
ARCHITECTURES_2_TASK = {
    "TapasForQuestionAnswering": "table-question-answering", "ForQuestionAnswering": "question-answering",
    "ForTokenClassification": "token-classification", "ForSequenceClassification": "text-classification",
    "ForMultipleChoice": "multiple-choice", "ForMaskedLM": "fill-mask", "ForCausalLM": "text-generation",
    "ForConditionalGeneration": "text2text-generation", "MTModel": "text2text-generation",
    "EncoderDecoderModel": "text2text-generation", "GPT2LMHeadModel": "text-generation",
    "T5WithLMHeadModel": "text2text-generation",
}
#: transformers' auto classes → the pipeline task that loads them.
_AUTO_TASK = {
    "AutoModelForCausalLM": "text-generation", "AutoModelForSeq2SeqLM": "text2text-generation",
    "AutoModelForSequenceClassification": "text-classification",
    "AutoModelForTokenClassification": "token-classification",
    "AutoModelForQuestionAnswering": "question-answering", "AutoModelForMaskedLM": "fill-mask",
    "AutoModelForImageClassification": "image-classification",
    "AutoModelForSpeechSeq2Seq": "automatic-speech-recognition",
}
_FAILURE = re.compile(r"Task couldn.{1,8}t be inferenced from|as env .?(?:HF_)?TASK")
_LISTED = re.compile(r"define one of the following \[([^\]]+)\]")
_PIPELINE_TAG = re.compile(r"^pipeline_tag:\s*['\"]?([\w-]+)", re.M)


def hf_task_failure(lines: list[str] | None) -> bool:
    """The toolkit's default handler stopped for want of a task (its own words in the logs)."""
    return any(_FAILURE.search(x) for x in lines or [])


def _supported(lines: list[str] | None) -> set[str] | None:
    """The tasks the toolkit's message lists as supported (that version's transformers), when it lists them."""
    for x in lines or []:
        m = _LISTED.search(x.replace("\\u0027", "'"))
        if m:
            return {t.strip().strip("'\"") for t in m.group(1).split(",") if t.strip()}
    return None


def _card(sources: Mapping[str, bytes]) -> str | None:
    text = (sources.get("README.md") or b"").decode("utf-8", "replace")
    if not text.startswith("---"):
        return None
    front = text[3:].split("\n---", 1)[0]
    m = _PIPELINE_TAG.search(front)
    return m.group(1) if m else None


def _config(sources: Mapping[str, bytes]) -> dict[str, Any]:
    try:
        raw = json.loads(sources.get("config.json") or b"{}")
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


def propose_task(sources: Mapping[str, bytes], environment: Mapping[str, str],
                 lines: list[str] | None) -> tuple[dict[str, Any] | None, str]:
    """The task to set (``{task, why, sized_from}``), or None and a note saying why none is proposed."""
    supported = _supported(lines)
    tried = environment.get("HF_TASK") or environment.get("TASK")
    config = _config(sources)
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    arch = archs[0] if archs else None
    candidates: list[tuple[str, str, dict[str, Any]]] = []
    tag = _card(sources)
    if tag:
        candidates.append((tag, f"the model card's pipeline_tag is {tag} (README.md)", {"pipeline_tag": tag}))
    for auto, task in _AUTO_TASK.items():
        if auto in (config.get("auto_map") or {}):
            candidates.append((task, f"config.json's auto_map registers {arch or 'its architecture'} as {auto}, the "
                               f"class the {task} pipeline loads", {"auto_map": auto}))
    if arch and not any(arch.endswith(s) for s in ARCHITECTURES_2_TASK) and (
            arch.endswith("Model") or set(config.get("auto_map") or {}) == {"AutoConfig", "AutoModel"}):
        candidates.append(("feature-extraction", f"{arch} is a bare encoder (no task head): feature-extraction returns "
                           "its embeddings", {"architecture": arch}))
    for task, why, sized in candidates:
        if task == tried:
            continue  # the task already set is the one that failed
        if supported is not None and task not in supported:
            continue
        return {"task": task, "why": f"the toolkit could not tell the model's task; {why}",
                "sized_from": {**sized, **({"architecture": arch} if arch else {})}}, ""
    said = f" ({', '.join(t for t, _, _ in candidates)} not supported by this toolkit)" if candidates else ""
    return None, (f"no HF_TASK is proposed: neither the model card nor config.json says the task{said}; set it in "
                  "deploy.remedies (HF_TASK: <the pipeline task>), or add code/inference.py with model_fn")
