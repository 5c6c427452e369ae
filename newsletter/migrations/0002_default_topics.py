"""The default topics readers pick from on the subscribe form.

Written against the sample of trending papers (shared seed, 2025-11-24) and read
back as a reader would: tests/newsletter/test_topics.py checks that each topic
takes the papers a reader expects and leaves the others. The data lives here, not
in app code, so this migration never changes once applied; editors change topics
in the admin afterwards (newsletter/services.py, topic_update re-scores).

Keyword syntax (newsletter/relevance.py): one term or phrase per line; a token in
CAPITALS is an acronym matched case-sensitively ("RL" is not "url"); other words
match any case and word form; "title:" matches titles only."""

from django.db import migrations

DEFAULT_TOPICS = [
    {
        "slug": "llm-pretraining",
        "name": "Language models & pre-training",
        "description": "Large language models themselves: pre-training, objectives, architectures, long context.",
        "keywords": [
            "title:LLM", "title:large language model", "title:open language model",
            "language model pre-training", "supervised pre-training",
            "pre-training objective", "pre-training data", "pre-training corpus",
            "continual pre-training", "continued pre-training", "self-supervised pre-training",
            "next-token prediction", "autoregressive language model", "causal language model",
            "masked language model", "denoising objective", "scaling law", "perplexity",
            "long context", "long-text generation", "state-space model", "SSM", "Mamba",
            "sequence-to-sequence", "language understanding", "language generation",
        ],
    },
    {
        "slug": "llm-reasoning",
        "name": "LLM reasoning",
        "description": "How language models think step by step: chain-of-thought, maths, verification.",
        "keywords": [
            "reasoning", "reasoner", "chain-of-thought", "CoT", "step-by-step",
            "mathematical reasoning", "math reasoning", "thinking", "reasoning model",
            "test-time scaling", "self-verification", "mathematical verification", "GSM8K", "AIME", "MATH",
            "problem solving", "self-refinement", "thought",
        ],
    },
    {
        "slug": "agents",
        "name": "Agents",
        "description": "LLMs that act: tool use, web and computer agents, planning in environments.",
        "keywords": [
            "agent", "agentic", "LLM agents", "autonomous agents", "tool use", "tool calling",
            "web agents", "computer use", "SWE-bench", "WebArena", "OSWorld",
            "planning", "environment interaction", "agent trajectories", "multi-agent",
        ],
    },
    {
        "slug": "reinforcement-learning",
        "name": "Reinforcement learning",
        "description": "Agents and models that learn from rewards: RL algorithms, RLHF, RL for LLMs.",
        "keywords": [
            "reinforcement learning", "RL", "reinforcement fine-tuning", "RFT", "reward",
            "sparse reward", "reward model", "policy gradient", "policy optimization",
            "PPO", "GRPO", "RLHF", "RLVR", "offline RL", "Q-learning", "value function",
            "Markov decision process", "reinforcement pretraining", "rollout",
        ],
    },
    {
        "slug": "post-training",
        "name": "Post-training recipes",
        "description": "Turning a base model into a useful one: SFT, instruction tuning, RLHF recipes.",
        "keywords": [
            "post-training", "supervised fine-tuning", "SFT", "instruction tuning",
            "instruction-tuned", "instruction following", "mid-training", "fine-tuning recipe",
            "training recipe", "open recipe", "preference optimization", "DPO",
            "RLHF", "RLVR", "synthetic data", "instruction data", "chat model",
        ],
    },
    {
        "slug": "alignment",
        "name": "Alignment & safety",
        "description": "Making models helpful, honest and safe: preferences, feedback, refusals, robustness.",
        "keywords": [
            "AI alignment", "LLM alignment", "human alignment", "value alignment",
            "align with human", "aligned with human", "adversarial robustness",
            "certified robustness", "certified training", "adversarial attacks", "adversarial training",
            "preference learning", "preference optimization",
            "human preferences", "human feedback", "RLHF", "DPO", "reward model",
            "refusal", "jailbreak", "safety", "harmful", "weak-to-strong",
            "superalignment", "scalable oversight", "weak supervision", "red teaming",
        ],
    },
    {
        "slug": "vision-language",
        "name": "Vision-language & multimodal",
        "description": "Models that see and read: vision-language models, multimodal LLMs, image-text.",
        "keywords": [
            "vision-language", "vision-language model", "VLM", "multimodal", "multi-modal",
            "multimodal large language model", "MLLM", "image-text", "CLIP", "visual question answering",
            "VQA", "cross-modal", "video understanding", "image captioning", "text-to-image",
        ],
    },
    {
        "slug": "diffusion-generation",
        "name": "Diffusion & image generation",
        "description": "Generating images and video: diffusion models, flow matching, text-to-image.",
        "keywords": [
            "diffusion model", "diffusion", "denoising diffusion", "text-to-image",
            "image generation", "video generation", "generated images", "rectified flow",
            "flow matching", "score-based", "Stable Diffusion", "DiT", "latent diffusion",
            "denoising process", "sampling steps", "GAN",
        ],
    },
    {
        "slug": "visual-recognition",
        "name": "Visual recognition",
        "description": "Seeing machines: recognition, segmentation, detection, vision transformers.",
        "keywords": [
            "computer vision", "image classification", "semantic segmentation", "image segmentation",
            "object detection", "vision transformer", "ViT", "ImageNet", "CNN",
            "convolutional", "trajectory prediction", "medical imaging", "radiographs",
            "pixel", "visual recognition", "native resolution",
        ],
    },
    {
        "slug": "retrieval-rag",
        "name": "Retrieval & RAG",
        "description": "Search, embeddings and retrieval-augmented generation.",
        "keywords": [
            "retrieval", "retrieval-augmented generation", "retrieval-augmented", "RAG",
            "retriever", "dense retrieval", "text retrieval", "cross-modal retrieval",
            "re-ranking", "reranking", "reranker", "embedding model", "text embeddings", "backfilling",
            "backward-compatible", "open-domain question answering", "search engine",
            "information retrieval",
        ],
    },
    {
        "slug": "efficient-training",
        "name": "Efficient training & compression",
        "description": "Faster, cheaper, smaller: low precision, quantisation, pruning, memory savings.",
        "keywords": [
            "efficient training", "training efficiency", "memory-efficient", "low-precision",
            "mixed precision", "floating-point", "quantization", "pruning", "sparse training",
            "sparsity", "compression", "model compression", "knowledge distillation",
            "low-rank adaptation", "LoRA", "parameter-efficient", "PEFT", "accelerating training",
            "speedup", "energy-efficient", "on-device", "microcontrollers", "FLOPs",
            "memory footprint", "GPU memory",
        ],
    },
    {
        "slug": "continual-learning",
        "name": "Continual learning",
        "description": "Models that keep learning new tasks without forgetting the old ones.",
        "keywords": [
            "continual learning", "lifelong learning", "catastrophic forgetting", "forgetting",
            "class-incremental learning", "incremental learning", "title:continual", "lifelong",
            "replay", "rehearsal", "rehearsal-free", "exemplar-free", "knowledge retention",
            "stability-plasticity", "continual test-time adaptation", "continual pre-training",
            "continual post-training", "CL",
        ],
    },
    {
        "slug": "code-generation",
        "name": "Code generation",
        "description": "Models that write and fix code: code LLMs, program synthesis, coding agents.",
        "keywords": [
            "code generation", "code LLM", "title:code", "code snippets", "source code", "program synthesis",
            "coding", "software engineering", "HumanEval", "MBPP", "SWE-bench",
        ],
    },
    {
        "slug": "graph-learning",
        "name": "Graph learning",
        "description": "Learning on graphs and networks: GNNs, molecules, knowledge graphs.",
        "keywords": [
            "graph neural network", "GNN", "graph learning", "graph", "node classification",
            "link prediction", "message passing", "knowledge graph", "molecular graph",
        ],
    },
    {
        "slug": "beyond-backprop",
        "name": "Beyond backpropagation",
        "description": "New ways to train networks: forward-only, local and biologically plausible learning.",
        "keywords": [
            "backpropagation", "back-propagation", "backpropagation-free", "forward-forward",
            "forward learning", "local learning", "local gradients", "biologically plausible",
            "physical neural networks", "neuromorphic", "gradient boosting", "layer-wise training",
            "forward pass", "backward pass",
        ],
    },
]


def topics_create(apps, schema_editor):
    Topic = apps.get_model("newsletter", "Topic")
    for position, data in enumerate(DEFAULT_TOPICS, start=1):
        # get_or_create: a topic an editor already made under this slug is kept as is.
        Topic.objects.get_or_create(
            slug=data["slug"],
            defaults={
                "name": data["name"],
                "description": data["description"],
                "keywords": "\n".join(data["keywords"]),
                "position": position * 10,
                "is_active": True,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0001_initial")]
    # Unapplying keeps the topics: deleting them would delete readers' choices too.
    operations = [migrations.RunPython(topics_create, migrations.RunPython.noop)]
