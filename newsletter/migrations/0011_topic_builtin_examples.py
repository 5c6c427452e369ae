"""Each default topic gets three to five canonical papers of its field as built-in
examples (Topic.builtin_examples): a topic is a name, a description and a few
example papers, and a new installation has no editor-marked examples yet.

The papers were chosen as the field's best-known papers (the ones a survey of the
field cites first), before any evaluation with them; titles as published, each
abstract a one-paragraph paraphrase written from general knowledge of the paper.
None is a paper of the evaluation's labelled days or of the shared sample
(tests/newsletter/test_topics.py checks the titles). Embedded like an example
paper (newsletter/embeddings.py, topic_embed) into the examples' centroid.

A topic an editor has re-slugged is not found and keeps none. The topics' stored
vectors are cleared here, so they are recomputed when next used, and papers are
re-scored by `manage.py rescore_topics`, as after migration 0008."""

from django.db import migrations, models

# slug -> [(title, abstract)]
BUILTIN_EXAMPLES = {
    "llm-pretraining": [
        ("Attention Is All You Need",
         "The dominant sequence transduction models are based on recurrent or convolutional networks with an encoder and a decoder. We propose the Transformer, a simple architecture based solely on attention mechanisms, dispensing with recurrence and convolutions entirely. On machine translation it reaches better quality while being more parallelizable and requiring far less time to train, and it generalizes to other tasks such as constituency parsing."),
        ("Language Models are Few-Shot Learners",
         "We train GPT-3, an autoregressive language model with 175 billion parameters, ten times more than any previous non-sparse language model, on a large corpus of web text, and test it in the few-shot setting without any gradient updates or fine-tuning, with tasks specified purely by text. Scaling up language models greatly improves task-agnostic few-shot performance on translation, question answering and cloze tasks, sometimes reaching fine-tuned state of the art."),
        ("Scaling Laws for Neural Language Models",
         "We study empirical scaling laws for language model performance on the cross-entropy loss. The loss scales as a power law with model size, dataset size and the amount of compute used for training, with trends spanning more than seven orders of magnitude, while architectural details such as width or depth have minimal effects. These relations determine the optimal allocation of a fixed compute budget: larger models are significantly more sample-efficient."),
        ("BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
         "We introduce BERT, a language representation model designed to pre-train deep bidirectional representations from unlabeled text by jointly conditioning on both left and right context in all layers, with a masked language modeling objective and next sentence prediction. The pre-trained model can be fine-tuned with one additional output layer to create state-of-the-art models for a wide range of tasks, such as question answering and language inference."),
    ],
    "llm-reasoning": [
        ("Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
         "We explore how generating a chain of thought, a series of intermediate reasoning steps, significantly improves the ability of large language models to perform complex reasoning. Providing a few chain-of-thought demonstrations as exemplars in prompting improves performance on arithmetic, commonsense and symbolic reasoning tasks; prompting a large model with eight such exemplars reaches state-of-the-art accuracy on the GSM8K benchmark of math word problems."),
        ("Training Verifiers to Solve Math Word Problems",
         "State-of-the-art language models still struggle with multi-step mathematical reasoning. We introduce GSM8K, a dataset of 8.5K high quality, linguistically diverse grade school math word problems, and propose training verifiers to judge the correctness of model completions. At test time we generate many candidate solutions and select the one ranked highest by the verifier; verification significantly improves performance and scales better with data than fine-tuning."),
        ("Least-to-Most Prompting Enables Complex Reasoning in Large Language Models",
         "Chain-of-thought prompting performs poorly on tasks that require solving problems harder than the exemplars shown in the prompt. We propose least-to-most prompting: break down a complex problem into a series of simpler subproblems and then solve them in sequence, each answer helping to solve the next. It generalizes to harder problems in symbolic manipulation, compositional generalization and math reasoning."),
        ("Solving Quantitative Reasoning Problems with Language Models",
         "Language models have achieved remarkable performance on natural language tasks but still struggle with quantitative reasoning, such as mathematics, science and engineering problems. We introduce Minerva, a large language model pretrained on general natural language data and further trained on technical content, which solves step by step college-level problems in physics, biology, chemistry and mathematics, with state-of-the-art results on technical benchmarks."),
    ],
    "agents": [
        ("WebGPT: Browser-assisted question-answering with human feedback",
         "We fine-tune GPT-3 to answer long-form questions using a text-based web-browsing environment, which allows the model to search and navigate the web. The model issues commands such as searching, clicking links and quoting passages, and must collect references to support its answers. We train it by imitation of human demonstrations and optimise answer quality with human feedback and rejection sampling against a reward model."),
        ("HuggingGPT: Solving AI Tasks with ChatGPT and its Friends in Hugging Face",
         "We present an agent that uses a large language model as a controller to manage AI models from a machine learning community and solve complicated tasks. Given a user request, the language model plans the task, selects models according to their descriptions, executes each subtask with the selected model and summarizes the response, tackling tasks across language, vision and speech."),
        ("ToolLLM: Facilitating Large Language Models to Master 16000+ Real-world APIs",
         "Open-source language models remain limited in tool use, that is, using external tools and APIs to fulfil human instructions. We build ToolBench, an instruction-tuning dataset for tool use covering more than 16,000 real-world REST APIs, with solution paths found by a depth-first search decision tree, train a tool-using model with a neural API retriever, and introduce an automatic evaluator for multi-step tool calling."),
        ("AgentBench: Evaluating LLMs as Agents",
         "Large language models are becoming increasingly capable as autonomous agents that act in interactive environments. We present AgentBench, a multi-dimensional benchmark of eight distinct environments, including an operating system, a database, a knowledge graph, card games, household tasks and web shopping and browsing, to assess the reasoning and decision-making abilities of language models as agents in multi-turn open-ended settings."),
    ],
    "reinforcement-learning": [
        ("Human-level control through deep reinforcement learning",
         "We develop a deep Q-network, an agent that combines reinforcement learning with deep neural networks to learn successful policies directly from high-dimensional sensory inputs using end-to-end learning. Tested on classic Atari 2600 games, receiving only the pixels and the game score as inputs, the agent surpasses all previous algorithms and reaches a level comparable to a professional human player across 49 games, using the same algorithm and hyperparameters."),
        ("Proximal Policy Optimization Algorithms",
         "We propose a new family of policy gradient methods for reinforcement learning, which alternate between sampling data through interaction with the environment and optimizing a surrogate objective function using stochastic gradient ascent. The clipped objective enables multiple epochs of minibatch updates, has some of the benefits of trust region policy optimization and is much simpler to implement, outperforming other online policy gradient methods on robotic locomotion and Atari."),
        ("Mastering the game of Go without human knowledge",
         "We introduce an algorithm based solely on reinforcement learning, without human data, guidance or domain knowledge beyond the game rules. A neural network predicts moves and the winner of games, and is trained by self-play with tree search, which improves the policy at each iteration. Starting tabula rasa, AlphaGo Zero achieved superhuman performance, winning 100-0 against the previously published champion-defeating program."),
        ("Soft Actor-Critic: Off-Policy Maximum Entropy Deep Reinforcement Learning with a Stochastic Actor",
         "Model-free deep reinforcement learning algorithms suffer from high sample complexity and brittle convergence. We propose soft actor-critic, an off-policy actor-critic algorithm based on the maximum entropy reinforcement learning framework, in which the actor aims to maximize expected reward while also maximizing entropy, acting as randomly as possible while succeeding at the task. It achieves state-of-the-art performance on continuous control benchmarks and is stable across random seeds."),
        ("Conservative Q-Learning for Offline Reinforcement Learning",
         "Offline reinforcement learning learns policies from large, previously collected datasets without interaction, but standard off-policy methods fail because of overestimation of values on out-of-distribution actions. We propose conservative Q-learning, which learns a conservative Q-function whose expected value lower-bounds the true value of the policy, with a simple regularizer on the Q-values, and substantially outperforms prior offline RL methods on discrete and continuous control."),
    ],
    "post-training": [
        ("Finetuned Language Models Are Zero-Shot Learners",
         "We show that instruction tuning, fine-tuning language models on a collection of datasets described via natural language instructions, substantially improves zero-shot performance on unseen tasks. We take a 137B parameter pretrained language model and instruction tune it on over 60 NLP datasets verbalized via natural language instruction templates; the resulting model, FLAN, surpasses zero-shot GPT-3 on most unseen tasks."),
        ("Scaling Instruction-Finetuned Language Models",
         "Finetuning language models on a collection of datasets phrased as instructions improves model performance and generalization to unseen tasks. We explore instruction finetuning scaled in the number of tasks, the model size, and with chain-of-thought data, and find that it dramatically improves performance across model classes, prompting setups and evaluation benchmarks; the instruction-finetuned checkpoints outperform much larger models."),
        ("Learning to summarize from human feedback",
         "As language models become more powerful, training and evaluation are bottlenecked by the data and metrics used for a task. We collect a large, high-quality dataset of human comparisons between summaries, train a reward model to predict the human-preferred summary, and use that model as a reward function to fine-tune a summarization policy with reinforcement learning; the resulting models outperform much larger models trained with supervised learning alone."),
        ("Multitask Prompted Training Enables Zero-Shot Task Generalization",
         "Large language models show reasonable zero-shot generalization, hypothesized to be a consequence of implicit multitask learning during pretraining. We test whether explicit multitask learning can induce it directly: we convert a large set of supervised datasets into prompted form with diverse natural language prompts and fine-tune a pretrained encoder-decoder model on this multitask mixture; it matches or exceeds much larger models on held-out tasks."),
    ],
    "alignment": [
        ("Concrete Problems in AI Safety",
         "Rapid progress in machine learning draws attention to the potential impacts of AI on society. We discuss the problem of accidents in machine learning systems, unintended and harmful behavior that may emerge from poor design of real-world AI systems, and present five practical research problems: avoiding side effects, avoiding reward hacking, scalable oversight, safe exploration, and robustness to distributional shift."),
        ("Towards Deep Learning Models Resistant to Adversarial Attacks",
         "Deep neural networks are vulnerable to adversarial examples, inputs almost indistinguishable from natural data that are classified incorrectly. We study the adversarial robustness of neural networks through the lens of robust optimization, which gives a unifying view and concrete security guarantees against first-order adversaries. Adversarial training with projected gradient descent yields networks significantly more resistant to a wide range of attacks."),
        ("AI safety via debate",
         "To make AI systems safe and useful, we need to train them to pursue complex human goals and values, which humans cannot judge directly when tasks are too complicated. We propose training agents via self-play on a zero-sum debate game: two agents take turns making short statements and a human judges which agent gave the most true, useful information, a form of scalable oversight that could let humans supervise systems more capable than themselves."),
        ("Discovering Language Model Behaviors with Model-Written Evaluations",
         "As language models scale, they develop many novel behaviors, good and bad, that must be evaluated. We automatically generate evaluations with language models, producing many datasets that test for sycophancy, stated desires for power and resources, and other safety-relevant behaviors, and find that larger models and models trained with reinforcement learning from human feedback show more of several concerning behaviors."),
    ],
    "vision-language": [
        ("Learning Transferable Visual Models From Natural Language Supervision",
         "We learn visual concepts from natural language supervision: predicting which caption goes with which image is an efficient and scalable way to learn image representations from scratch on a dataset of 400 million image-text pairs collected from the internet. After contrastive pre-training, natural language is used to reference learned visual concepts, enabling zero-shot transfer of the model to downstream tasks such as image classification, often competitive with fully supervised baselines."),
        ("Scaling Up Visual and Vision-Language Representation Learning With Noisy Text Supervision",
         "Pre-trained representations are becoming crucial for many vision and language tasks, but curated datasets are expensive. We leverage a noisy dataset of over one billion image alt-text pairs, obtained without expensive filtering, and train a simple dual-encoder architecture that aligns visual and language representations with a contrastive loss; the scale of the corpus makes up for its noise and yields strong image-text retrieval and zero-shot classification."),
        ("BLIP: Bootstrapping Language-Image Pre-training for Unified Vision-Language Understanding and Generation",
         "Vision-language pre-training has advanced many tasks, but most models excel at either understanding or generation. We propose a framework that transfers flexibly to both, with a multimodal mixture of encoder-decoder and a method that bootstraps captions from noisy web data: a captioner generates synthetic captions and a filter removes noisy ones. It achieves strong results on image-text retrieval, image captioning and visual question answering."),
        ("VQA: Visual Question Answering",
         "We propose the task of free-form and open-ended visual question answering: given an image and a natural language question about the image, the task is to provide an accurate natural language answer. Answering such questions requires a detailed understanding of the image and complex reasoning. We provide a dataset of about 250,000 images with questions and answers, and baselines combining vision and language models."),
    ],
    "diffusion-generation": [
        ("Denoising Diffusion Probabilistic Models",
         "We present high quality image synthesis results using diffusion probabilistic models, a class of latent variable models inspired by nonequilibrium thermodynamics. Our best results are obtained by training on a weighted variational bound designed according to a novel connection between diffusion models and denoising score matching with Langevin dynamics; the models generate samples by progressively denoising Gaussian noise and reach a state-of-the-art FID on unconditional image generation."),
        ("Score-Based Generative Modeling through Stochastic Differential Equations",
         "Creating noise from data is easy; creating data from noise is generative modeling. We present a stochastic differential equation that smoothly transforms a complex data distribution to a known prior by slowly injecting noise, and a reverse-time SDE that transforms the prior back into the data distribution by slowly removing the noise, using a neural network that estimates the score. The framework unifies score-based and diffusion models and enables exact likelihoods and controllable generation."),
        ("Diffusion Models Beat GANs on Image Synthesis",
         "We show that diffusion models can achieve image sample quality superior to the current state-of-the-art generative models. We find a better architecture through a series of ablations, and for conditional image synthesis we improve sample quality with classifier guidance, a simple, compute-efficient method for trading off diversity for fidelity using gradients from a classifier, reaching better FID than GANs on ImageNet generation."),
        ("Hierarchical Text-Conditional Image Generation with CLIP Latents",
         "Contrastive models like CLIP learn robust representations of images that capture both semantics and style. We propose a two-stage model for text-to-image generation: a prior that generates a CLIP image embedding given a text caption, and a diffusion decoder that generates an image conditioned on the image embedding. Explicitly generating image representations improves image diversity with minimal loss in photorealism and caption similarity."),
    ],
    "visual-recognition": [
        ("Deep Residual Learning for Image Recognition",
         "Deeper neural networks are more difficult to train. We present a residual learning framework to ease the training of networks substantially deeper than those used previously, reformulating the layers as learning residual functions with reference to the layer inputs. Residual networks are easier to optimize and gain accuracy from considerably increased depth, winning the ImageNet classification task and improving object detection and segmentation on COCO."),
        ("An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
         "While the Transformer architecture has become the standard for natural language processing, its applications to computer vision remain limited. We show that a pure transformer applied directly to sequences of image patches performs very well on image classification. When pre-trained on large amounts of data and transferred to image recognition benchmarks such as ImageNet, the vision transformer attains excellent results compared to convolutional networks while requiring fewer resources to train."),
        ("Mask R-CNN",
         "We present a conceptually simple, flexible and general framework for object instance segmentation. Our approach efficiently detects objects in an image while simultaneously generating a high-quality segmentation mask for each instance, extending Faster R-CNN by adding a branch for predicting an object mask in parallel with the branch for bounding box recognition. It tops the COCO challenges in instance segmentation, object detection and person keypoint detection."),
        ("A Simple Framework for Contrastive Learning of Visual Representations",
         "We present a simple framework for contrastive self-supervised learning of visual representations without specialized architectures or a memory bank. Composition of data augmentations, a learnable nonlinear projection head, and larger batch sizes and training steps substantially improve the quality of the learned representations; a linear classifier trained on them matches the ImageNet accuracy of a supervised ResNet-50."),
    ],
    "retrieval-rag": [
        ("Dense Passage Retrieval for Open-Domain Question Answering",
         "Open-domain question answering relies on efficient passage retrieval to select candidate contexts, where sparse vector space models such as TF-IDF or BM25 are the de facto method. We show that retrieval can be practically implemented using dense representations alone, where embeddings are learned from a small number of questions and passages by a simple dual-encoder framework, outperforming a strong Lucene-BM25 system in top-20 passage retrieval accuracy."),
        ("Retrieval-Augmented Generation for Knowledge-Intensive NLP Tasks",
         "Large pre-trained language models store factual knowledge in their parameters, but their ability to access and precisely manipulate knowledge is limited. We explore retrieval-augmented generation models, which combine pre-trained parametric memory, a sequence-to-sequence model, with a non-parametric memory, a dense vector index of Wikipedia accessed with a neural retriever, and set the state of the art on open-domain question answering, generating more specific and factual language."),
        ("REALM: Retrieval-Augmented Language Model Pre-Training",
         "Language model pre-training captures world knowledge implicitly in the network parameters. To capture knowledge in a more modular and interpretable way, we augment language model pre-training with a latent knowledge retriever, which lets the model retrieve and attend over documents from a large corpus such as Wikipedia during pre-training, fine-tuning and inference, with the retriever trained by backpropagating through a retrieval step over millions of documents."),
        ("Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
         "BERT requires that both sentences are fed into the network, which makes finding the most similar pair in a large collection very slow and unsuitable for semantic similarity search. We present a modification of the pretrained network that uses siamese and triplet network structures to derive semantically meaningful sentence embeddings that can be compared using cosine similarity, reducing the effort for finding the most similar pair from hours to seconds."),
    ],
    "efficient-training": [
        ("Distilling the Knowledge in a Neural Network",
         "A very simple way to improve the performance of almost any machine learning algorithm is to train many different models and average their predictions, but ensembles are cumbersome to deploy. We show that it is possible to compress the knowledge in an ensemble into a single small model, by training it on the soft targets produced by the large model with a high temperature, and that this distillation works well for acoustic models and image classification."),
        ("The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks",
         "Neural network pruning techniques can reduce the parameter counts of trained networks by over 90%, decreasing storage requirements and improving computational performance of inference. We find that dense, randomly initialized networks contain sparse subnetworks, winning tickets, that when trained in isolation reach test accuracy comparable to the original network in a similar number of iterations, and present an algorithm to identify them by iterative magnitude pruning."),
        ("Deep Compression: Compressing Deep Neural Networks with Pruning, Trained Quantization and Huffman Coding",
         "Neural networks are both computationally and memory intensive, making them difficult to deploy on embedded systems with limited hardware resources. We introduce a three-stage pipeline: pruning, trained quantization and Huffman coding, that reduces the storage required by neural networks by 35 to 49 times without affecting their accuracy, so that models fit in on-chip memory and run faster with less energy."),
        ("Mixed Precision Training",
         "Deep neural networks have enabled progress in a wide variety of applications, and increasing their size increases accuracy but also memory and compute requirements for training. We introduce a methodology for training networks using half-precision floating point numbers without losing accuracy or modifying hyperparameters, keeping a single-precision master copy of the weights and scaling the loss to preserve small gradient values, nearly halving memory requirements."),
        ("Parameter-Efficient Transfer Learning for NLP",
         "Fine-tuning large pre-trained models is an effective transfer mechanism in NLP, but with many downstream tasks it is parameter inefficient: an entire new model is required for every task. We propose transfer with adapter modules, which yield a compact and extensible model: they add only a few trainable parameters per task, and new tasks can be added without revisiting previous ones, attaining near state-of-the-art performance while adding a few percent of parameters per task."),
    ],
    "continual-learning": [
        ("Overcoming catastrophic forgetting in neural networks",
         "The ability to learn tasks in a sequential fashion is crucial to the development of artificial intelligence, but neural networks suffer catastrophic forgetting of earlier tasks when trained on new ones. We show that it is possible to overcome this limitation and train networks that maintain expertise on tasks they have not experienced for a long time, by selectively slowing down learning on the weights important for previous tasks (elastic weight consolidation)."),
        ("iCaRL: Incremental Classifier and Representation Learning",
         "A major open problem on the road to artificial intelligence is the development of incrementally learning systems that learn about more and more concepts over time from a stream of data. We introduce a training strategy for class-incremental learning, where only the training data for a small number of classes has to be present at the same time and new classes can be added progressively, learning strong classifiers and a data representation simultaneously with a small memory of exemplars."),
        ("Gradient Episodic Memory for Continual Learning",
         "One major obstacle towards artificial intelligence is the poor ability of models to solve new problems quickly and without forgetting previously acquired knowledge. We propose metrics to evaluate models learning over a continuum of data, in terms of accuracy and of transfer of knowledge across tasks, and a model for continual learning, gradient episodic memory, that alleviates forgetting while allowing beneficial transfer of knowledge to previous tasks."),
        ("Learning without Forgetting",
         "When building a unified vision system or gradually adding new capabilities, the usual assumption is that training data for all tasks is always available. However, as the number of tasks grows, storing and retraining on such data becomes infeasible. We propose a method that uses only new task data to train the network while preserving the original capabilities, by keeping the old network's responses on the new data, and it outperforms feature extraction and fine-tuning adaptation."),
    ],
    "code-generation": [
        ("Evaluating Large Language Models Trained on Code",
         "We introduce Codex, a GPT language model fine-tuned on publicly available code from GitHub, and study its Python code-writing capabilities. On HumanEval, a new evaluation set we release to measure functional correctness for synthesizing programs from docstrings, the model solves a large fraction of problems, and repeated sampling from the model is a surprisingly effective strategy for producing working solutions to difficult prompts."),
        ("Program Synthesis with Large Language Models",
         "We explore the limits of the current generation of large language models for program synthesis in general purpose programming languages. We evaluate models on two new benchmarks, MBPP and MathQA-Python, in both the few-shot and fine-tuning regimes, find that synthesis performance scales log-linearly with model size, and study the model's ability to engage in dialog about code and incorporate human feedback to improve its solutions."),
        ("Measuring Coding Challenge Competence With APPS",
         "While programming is one of the most broadly applicable skills in modern society, modern machine learning models still cannot code solutions to basic problems. We introduce APPS, a benchmark for code generation that measures the ability of models to take an arbitrary natural language specification and generate satisfactory Python code, with 10,000 problems ranging from simple one-line solutions to substantial algorithmic challenges, checked by test cases."),
        ("CodeBERT: A Pre-Trained Model for Programming and Natural Languages",
         "We present CodeBERT, a bimodal pre-trained model for programming language and natural language. It learns general-purpose representations that support downstream applications such as natural language code search and code documentation generation, trained on bimodal data of natural language and code pairs and unimodal data with a hybrid objective, and achieves state-of-the-art performance on code search and code-to-documentation generation."),
    ],
    "graph-learning": [
        ("Semi-Supervised Classification with Graph Convolutional Networks",
         "We present a scalable approach for semi-supervised learning on graph-structured data that is based on an efficient variant of convolutional neural networks which operate directly on graphs, motivated by a localized first-order approximation of spectral graph convolutions. The model scales linearly in the number of graph edges and learns hidden layer representations that encode both local graph structure and features of nodes, outperforming related methods on citation networks and a knowledge graph."),
        ("Graph Attention Networks",
         "We present graph attention networks, neural network architectures that operate on graph-structured data, leveraging masked self-attentional layers to address the shortcomings of prior methods based on graph convolutions. Nodes attend over their neighborhoods' features, implicitly specifying different weights to different nodes in a neighborhood, without costly matrix operations or knowing the graph structure upfront, achieving state-of-the-art results on transductive and inductive node classification."),
        ("Neural Message Passing for Quantum Chemistry",
         "Supervised learning on molecules has incredible potential to be useful in chemistry, drug discovery and materials science. Several neural network models invariant to molecular symmetries have been described; we reformulate them into a single common framework, message passing neural networks, and explore variations within it, achieving state-of-the-art results on an important molecular property prediction benchmark."),
        ("How Powerful are Graph Neural Networks?",
         "Graph neural networks are an effective framework for representation learning of graphs, following a neighborhood aggregation scheme in which the representation of a node is computed by recursively aggregating and transforming the representations of its neighbors. We present a theoretical framework for analyzing their expressive power, relating it to the Weisfeiler-Lehman graph isomorphism test, and develop a simple architecture that is provably the most expressive among this class."),
    ],
    "beyond-backprop": [
        ("Random synaptic feedback weights support error backpropagation for deep learning",
         "The brain processes information through multiple layers of neurons, and backpropagation assigns blame to a neuron by computing exactly how it contributed to an error, which requires precisely symmetric backward connectivity that is biologically implausible. We show that a network can learn by multiplying errors by fixed random synaptic weights instead (feedback alignment): the forward weights come to align with the feedback, and learning is as fast as backpropagation on a variety of tasks."),
        ("Equilibrium Propagation: Bridging the Gap between Energy-Based Models and Backpropagation",
         "We introduce equilibrium propagation, a learning framework for energy-based models with a single kind of neural computation in both phases of training. The network relaxes to a fixed point of its energy, then the output is nudged toward the target and the perturbation propagates to hidden layers; a local learning rule contrasting the two states computes the gradient of an objective, making backpropagation-like learning more plausible for the brain and for analog hardware."),
        ("Direct Feedback Alignment Provides Learning in Deep Neural Networks",
         "Artificial neural networks are most often trained with the backpropagation algorithm, in which the error is propagated backwards layer by layer through symmetric weights. We show that the error can instead be propagated directly from the output layer to each hidden layer through fixed random feedback connections, which trains deep networks to performance close to backpropagation while allowing the layers to be updated in parallel and without weight transport."),
        ("Predictive Coding Approximates Backprop along Arbitrary Computation Graphs",
         "Backpropagation of error is a central algorithm of machine learning but is considered biologically implausible. We show that predictive coding, an influential theory of cortical function using only local and Hebbian plasticity, converges asymptotically to the exact backpropagation gradients on arbitrary computation graphs, and train convolutional and recurrent networks and transformers with it to performance comparable to backpropagation."),
    ],
}


def examples_apply(apps, schema_editor):
    Topic = apps.get_model("newsletter", "Topic")
    for slug, papers in BUILTIN_EXAMPLES.items():
        Topic.objects.filter(slug=slug).update(
            builtin_examples=[{"title": title, "abstract": abstract} for title, abstract in papers],
            embedding=None,
        )


def examples_remove(apps, schema_editor):
    apps.get_model("newsletter", "Topic").objects.filter(slug__in=list(BUILTIN_EXAMPLES)).update(embedding=None)


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0010_feedback_source")]

    operations = [
        migrations.AddField(
            model_name="topic",
            name="builtin_examples",
            field=models.JSONField(
                blank=True, default=list, editable=False,
                help_text="Canonical papers of the field that come with a default topic.",
            ),
        ),
        migrations.RunPython(examples_apply, examples_remove),
    ]
