"""The default topics rewritten as general definitions.

Each default topic becomes a definition of its field: a description of what belongs
to it and keywords that any paper of the field may use, with no term chosen because
one paper of the shared sample uses it (migration 0002's lists were written against
that sample). Relevance (newsletter/relevance.py) reads the name, the description
and the keywords as one definition, semantically, and the keywords also lexically,
for the "matched: ..." line of the digest. Editors add example papers in the admin.

A topic whose keywords an editor has changed since migration 0002 is left alone.
Papers are re-scored by `manage.py rescore_topics` (run by `make run`'s bootstrap
and after an upgrade), not here: scoring needs the embedding model, not the
historical models a migration has."""

import importlib

from django.db import migrations

ORIGINAL = {t["slug"]: t for t in importlib.import_module("newsletter.migrations.0002_default_topics").DEFAULT_TOPICS}

DEFINITIONS = [
    {
        "slug": "llm-pretraining",
        "description": (
            "How large language models are built: pre-training data and objectives, scaling laws, architectures (transformers, state-space, mixture of experts), tokenisation and long context."
        ),
        "keywords": [
            "pre-training", "pretrained language model",
            "title:large language model", "foundation model", "next-token prediction", "pre-training data",
            "data mixture", "scaling law", "compute-optimal", "transformer architecture",
            "mixture of experts", "state-space model", "recurrent", "long context",
            "context length", "tokenisation", "perplexity", "title:language model",
        ],
    },
    {
        "slug": "llm-reasoning",
        "description": (
            "How language models reason: chain-of-thought, step-by-step and test-time thinking, mathematical and logical problem solving, verification and self-correction."
        ),
        "keywords": [
            "reasoning", "chain-of-thought", "step-by-step", "think", "thought", "rationale",
            "mathematical reasoning", "math word problem", "problem solving",
            "test-time compute", "self-consistency", "verifier", "self-correction",
            "logical reasoning", "GSM8K", "MATH benchmark",
        ],
    },
    {
        "slug": "agents",
        "description": (
            "Language models that act: tool use and API calls, web and computer-use agents, planning and memory, multi-agent systems, agents in interactive environments."
        ),
        "keywords": [
            "LLM agent", "language agent", "autonomous agent", "agentic", "tool use",
            "tool calling", "API calls", "web agent", "web navigation", "computer use",
            "multi-agent", "planning", "interactive environment", "agent memory",
        ],
    },
    {
        "slug": "reinforcement-learning",
        "description": (
            "Learning from rewards: RL algorithms, policy optimisation, value functions, offline and model-based RL, exploration, RL for language models and robots."
        ),
        "keywords": [
            "reinforcement learning", "RL", "reward", "policy", "policy gradient",
            "policy optimisation", "value function", "Q-learning", "actor-critic", "offline RL",
            "model-based", "world model", "exploration", "sample efficiency", "PPO", "GRPO",
            "RLHF", "Markov decision process", "Atari", "locomotion",
        ],
    },
    {
        "slug": "post-training",
        "description": (
            "Turning a pretrained model into an assistant: supervised fine-tuning, instruction tuning, preference optimisation (RLHF, DPO), distillation and synthetic data for chat models."
        ),
        "keywords": [
            "post-training", "fine-tuning recipe", "supervised fine-tuning", "SFT",
            "instruction tuning", "instruction following", "instruction data",
            "preference optimisation", "preference data", "DPO", "RLHF", "human feedback",
            "chat model", "synthetic data", "distillation", "alignment tuning",
        ],
    },
    {
        "slug": "alignment",
        "description": (
            "Making models safe and aligned with human values: preferences and oversight, harmful content and refusals, jailbreaks and red teaming, robustness, deception and interpretability."
        ),
        "keywords": [
            "alignment", "aligned", "safety", "harmless", "harmful", "refusal", "jailbreak",
            "red teaming", "adversarial attack", "adversarial robustness",
            "certified robustness", "human preferences", "human values", "reward model",
            "oversight", "deception", "backdoor", "interpretability", "toxicity",
        ],
    },
    {
        "slug": "vision-language",
        "description": (
            "Models that see and read: vision-language models, multimodal LLMs, image-text pre-training, visual question answering, captioning, video and document understanding."
        ),
        "keywords": [
            "vision-language", "vision-language model", "VLM", "multimodal",
            "multimodal large language model", "MLLM", "image-text", "visual question answering",
            "VQA", "image captioning", "visual instruction", "visual encoder", "CLIP",
            "video understanding", "cross-modal", "visual grounding",
        ],
    },
    {
        "slug": "diffusion-generation",
        "description": (
            "Generating images, video and other media: diffusion models, flow matching, text-to-image and text-to-video, sampling and guidance, controllable generation."
        ),
        "keywords": [
            "diffusion model", "diffusion", "denoising", "score-based", "flow matching",
            "rectified flow", "text-to-image", "text-to-video", "image generation",
            "video generation", "image synthesis", "generative model", "latent diffusion",
            "sampling steps", "guidance", "FID",
        ],
    },
    {
        "slug": "visual-recognition",
        "description": (
            "Computer vision that understands images and video: classification, object detection, segmentation, depth and 3D, tracking, vision backbones and self-supervised visual learning."
        ),
        "keywords": [
            "computer vision", "image classification", "object detection", "detector",
            "segmentation", "instance segmentation", "semantic segmentation",
            "vision transformer", "ViT", "convolutional network", "backbone", "ImageNet", "COCO",
            "depth estimation", "tracking", "3D reconstruction", "self-supervised visual",
            "visual representation", "visual recognition",
        ],
    },
    {
        "slug": "retrieval-rag",
        "description": (
            "Finding the right text: search and ranking, dense and sparse retrieval, text embeddings, re-ranking, and retrieval-augmented generation that grounds answers in documents."
        ),
        "keywords": [
            "retrieval", "retriever", "retrieval-augmented generation", "RAG", "dense retrieval",
            "search engine", "learning to rank", "re-ranking", "reranker", "text embeddings",
            "embedding model", "passage retrieval", "information retrieval",
            "open-domain question answering", "BM25", "BEIR",
        ],
    },
    {
        "slug": "efficient-training",
        "description": (
            "Faster, cheaper, smaller models: quantisation and low precision, pruning and sparsity, distillation, parameter-efficient fine-tuning, efficient attention, memory savings and fast inference."
        ),
        "keywords": [
            "efficient training", "efficient inference", "quantisation", "quantised",
            "low-precision", "low-bit", "mixed precision", "pruning", "sparsity", "compression",
            "distillation", "low-rank adaptation", "LoRA", "parameter-efficient",
            "memory-efficient", "GPU memory", "speedup", "latency", "throughput",
            "inference acceleration", "efficient attention", "KV cache", "on-device",
        ],
    },
    {
        "slug": "continual-learning",
        "description": (
            "Models that keep learning over time: learning new tasks or data without catastrophic forgetting, class-incremental and lifelong learning, replay, plasticity and continual pre-training."
        ),
        "keywords": [
            "continual learning", "lifelong learning", "catastrophic forgetting", "forgetting",
            "incremental learning", "class-incremental", "task-incremental", "replay",
            "rehearsal", "rehearsal-free", "plasticity", "stability-plasticity",
            "sequential tasks", "non-stationary", "continual pre-training",
            "test-time adaptation",
        ],
    },
    {
        "slug": "code-generation",
        "description": (
            "Models that write, fix and reason about code: code LLMs, program synthesis, software engineering agents, code benchmarks and execution feedback."
        ),
        "keywords": [
            "code generation", "code LLM", "code model", "source code", "programming",
            "program synthesis", "software engineering", "bug fixing", "unit tests", "HumanEval",
            "MBPP", "SWE-bench", "competitive programming", "title:code",
        ],
    },
    {
        "slug": "graph-learning",
        "description": (
            "Learning on graphs and relational structure: graph neural networks, message passing, graph transformers, molecules and materials, knowledge graphs and graph reasoning."
        ),
        "keywords": [
            "graph neural network", "GNN", "graph", "graphs", "message passing",
            "node classification", "link prediction", "graph transformer", "molecular",
            "molecule", "equivariant", "knowledge graph",
        ],
    },
    {
        "slug": "beyond-backprop",
        "description": (
            "Training networks without standard backpropagation: forward-only and local learning rules, Hebbian and biologically plausible learning, forward gradients, neuromorphic and physical hardware."
        ),
        "keywords": [
            "backpropagation", "backpropagation-free", "without backpropagation",
            "forward-forward", "forward gradient", "forward mode", "local learning",
            "local learning rule", "local gradients", "Hebbian", "biologically plausible",
            "neuromorphic", "analog hardware", "layer-wise training", "predictive coding",
        ],
    },
]


# The default topics as they stand after this migration: name and position from
# migration 0002, definition from here (tests and new databases read this list).
DEFAULT_TOPICS = [
    {**ORIGINAL[d["slug"]], **d, "position": position * 10}
    for position, d in enumerate(DEFINITIONS, start=1)
]


def topics_create(apps, schema_editor):
    """Create the default topics that do not exist (an editor's topic under the
    same slug is kept as is)."""
    Topic = apps.get_model("newsletter", "Topic")
    for data in DEFAULT_TOPICS:
        Topic.objects.get_or_create(slug=data["slug"], defaults={
            "name": data["name"], "description": data["description"],
            "keywords": "\n".join(data["keywords"]), "position": data["position"], "is_active": True,
        })


def definitions_apply(apps, schema_editor):
    Topic = apps.get_model("newsletter", "Topic")
    for data in DEFINITIONS:
        original = ORIGINAL[data["slug"]]
        topic = Topic.objects.filter(slug=data["slug"]).first()
        if topic is None or topic.keywords != "\n".join(original["keywords"]):
            continue
        topic.description = data["description"]
        topic.keywords = "\n".join(data["keywords"])
        topic.embedding = None
        topic.save(update_fields=["description", "keywords", "embedding"])


def definitions_revert(apps, schema_editor):
    Topic = apps.get_model("newsletter", "Topic")
    for data in DEFINITIONS:
        original = ORIGINAL[data["slug"]]
        Topic.objects.filter(slug=data["slug"], keywords="\n".join(data["keywords"])).update(
            description=original["description"], keywords="\n".join(original["keywords"]), embedding=None
        )


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0007_topic_definitions_embeddings")]
    operations = [migrations.RunPython(definitions_apply, definitions_revert)]
