using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Cli.Experiments;

/// <summary>
/// One experiment of the seeds (or beyond them): a model, how it is trained, and the figure the
/// seed printed for it, quoted exactly.
/// </summary>
public sealed record Experiment
{
    /// <summary>Short unique id (file names, <c>--only</c>), e.g. <c>t1-softmax-mse</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The group it belongs to; one learning-curve chart per group, e.g. <c>seed000-table1</c>.</summary>
    public required string Group { get; init; }

    /// <summary>Heading of the group.</summary>
    public required string GroupTitle { get; init; }

    /// <summary>Short name within the group (legend text).</summary>
    public required string Name { get; init; }

    /// <summary>The seed's figure exactly as printed (e.g. "0.8875"), or null when the seed gives none.</summary>
    public string? SeedFigure { get; init; }

    /// <summary>Where the figure comes from, with the seed's table row quoted verbatim (tabs as in the seed).</summary>
    public string SeedSource { get; init; } = "";

    /// <summary>The layer spec.</summary>
    public required string Spec { get; init; }

    /// <summary>The loss.</summary>
    public required string Loss { get; init; }

    /// <summary>The initialiser.</summary>
    public required InitScheme Init { get; init; }

    /// <summary>Train in double (the seed's "format long") instead of float.</summary>
    public bool Double { get; init; }

    /// <summary>How to train (the seed is set per run).</summary>
    public required TrainingOptions Options { get; init; }

    /// <summary>
    /// Also train for the seed's number of steps: the seeds made one pass over the 60,000 MNIST
    /// training images, the bundled set has 8,000, so this run makes 60,000 / N passes.
    /// </summary>
    public bool MatchedSteps { get; init; }

    /// <summary>Needs the official Fashion-MNIST; skipped with a note on any other data.</summary>
    public bool RequiresFashion { get; init; }

    /// <summary>Report the largest |output| at initialisation (where a plain softmax's exp would overflow).</summary>
    public bool ReportOutputScale { get; init; }

    /// <summary>An accuracy the row must reach (the Fashion recipe's 0.930), or null.</summary>
    public double? Target { get; init; }

    /// <summary>What the reader should know about the row's choices.</summary>
    public string Note { get; init; } = "";
}

/// <summary>
/// The experiments of issue 3: seed 000's Tables 1-3, its rand()-initialisation failure and its
/// remark on single-sample vs mini-batch training, seed 004's 3- and 5-layer models, LeNet-5
/// (seed 002), batch normalisation rescuing the rand()-initialised CNN, and a Fashion-MNIST recipe.
/// The seed figures below are copied from the seed text (seed 000's Table1, Table2 and Table3 rows).
/// </summary>
public static class ExperimentCatalog
{
    /// <summary>The hidden width chosen for seed 000's two-layer networks (the seed does not give one).</summary>
    public const int Table2Hidden = 300;

    /// <summary>The seed CNN's layout (seed 000 Table 3).</summary>
    public const string SeedCnn = "conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10";

    /// <summary>The seed CNN with batch normalisation after both convolutions and the 1,024-unit layer.</summary>
    public const string SeedCnnBatchNorm = "conv5x5x32:same,batchnorm,relu,maxpool2,conv5x5x64:same,batchnorm,relu,maxpool2,flatten,dense1024,batchnorm,relu,dense10";

    /// <summary>The Fashion-MNIST recipe's model: the seed CNN's layout plus batch norm and dropout.</summary>
    public const string FashionSpec = "conv5x5x32:same,batchnorm,relu,maxpool2,dropout0.1,conv5x5x64:same,batchnorm,relu,maxpool2,dropout0.25,flatten,dense1024,batchnorm,relu,dropout0.5,dense10";

    /// <summary>The Fashion-MNIST recipe's training: SGD with momentum 0.9, lr 0.05 with cosine decay, weight decay 5e-4, batch 128, 30 epochs.</summary>
    public static TrainingOptions FashionOptions { get; } = new()
    {
        Epochs = 30, BatchSize = 128, Optimizer = "momentum", Momentum = 0.9, LearningRate = 0.05,
        Schedule = LearningRateSchedule.Cosine, WeightDecay = 5e-4,
    };

    /// <summary>
    /// A VGG-style model for Fashion-MNIST chosen on a validation split (docs/fashion-mnist.md): two blocks of two
    /// 3x3 convolutions (32, then 64 channels) with batch norm, each block ending in max-pooling and dropout, then a
    /// 512-unit layer; 1.68 M parameters, 40 MFLOP per image.
    /// </summary>
    public const string FashionVggSpec = "conv3x3x32:same,batchnorm,relu,conv3x3x32:same,batchnorm,relu,maxpool2,dropout0.2,conv3x3x64:same,batchnorm,relu,conv3x3x64:same,batchnorm,relu,maxpool2,dropout0.3,flatten,dense512,batchnorm,relu,dropout0.5,dense10";

    /// <summary>The augmented Fashion-MNIST model: random crops after 2 pixels of zero padding and horizontal flips in front of <see cref="FashionVggSpec"/>.</summary>
    public const string FashionAugmentedSpec = "randcrop2,randflip," + FashionVggSpec;

    /// <summary>The augmented recipe's training: <see cref="FashionOptions"/> over 40 passes (augmentation needs more of them).</summary>
    public static TrainingOptions FashionAugmentedOptions { get; } = FashionOptions with { Epochs = 40 };

    private static readonly TrainingOptions OnePassSingleSample = new() { Epochs = 1, BatchSize = 1, Optimizer = "sgd", LearningRate = 0.05 };

    /// <summary>Every experiment, in the order of the report.</summary>
    public static IReadOnlyList<Experiment> All { get; } = Build();

    /// <summary>
    /// The experiments selected by <paramref name="only"/>: comma-separated ids, id prefixes or group names
    /// (null or empty: all). An entry that selects nothing is an <see cref="ArgumentException"/> listing the ids.
    /// </summary>
    public static IReadOnlyList<Experiment> Select(string? only)
    {
        if (string.IsNullOrWhiteSpace(only)) return All;
        var chosen = new List<Experiment>();
        foreach (string raw in only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var hits = All.Where(e => e.Id.StartsWith(raw, StringComparison.OrdinalIgnoreCase) || e.Group.Equals(raw, StringComparison.OrdinalIgnoreCase)).ToArray();
            if (hits.Length == 0)
                throw new ArgumentException($"--only '{raw}' matches no experiment; ids: {string.Join(", ", All.Select(e => e.Id))}");
            chosen.AddRange(hits.Where(h => !chosen.Contains(h)));
        }
        return All.Where(chosen.Contains).ToArray();
    }

    private static List<Experiment> Build()
    {
        var list = new List<Experiment>();

        // Seed 000, Table 1: one fully connected layer, rand() init, lr 0.05, one pass.
        const string t1 = "Seed 000, Table 1: one fully connected layer 784→10, rand() init, lr 0.05, one pass";
        list.Add(new Experiment
        {
            Id = "t1-softmax-mse", Group = "seed000-table1", GroupTitle = t1, Name = "softmax + squared error",
            SeedFigure = "0.8875", SeedSource = "seed 000 Table1: \"Softmax\t0.8875\"",
            Spec = "flatten,dense10", Loss = "softmax-mse", Init = InitScheme.Uniform, Options = OnePassSingleSample, MatchedSteps = true,
            Note = "loss ½Σ(softmax − onehot)² with the full softmax Jacobian",
        });
        list.Add(new Experiment
        {
            Id = "t1-softmax-ce", Group = "seed000-table1", GroupTitle = t1, Name = "softmax-cross-entropy",
            SeedFigure = "0.8815", SeedSource = "seed 000 Table1: \"Softmax-cross-entropy\t0.8815\"",
            Spec = "flatten,dense10", Loss = "ce", Init = InitScheme.Uniform, Options = OnePassSingleSample, MatchedSteps = true,
            Note = "standard cross-entropy −log softmax_t (the seed's formula also divides by the 10 classes, i.e. its lr 0.05 is our 0.005)",
        });

        // Seed 000, Table 2: two fully connected layers, N(0, 0.1) / bias 0.1, every combination of the table.
        string t2 = $"Seed 000, Table 2: two fully connected layers (hidden width {Table2Hidden}, our choice), N(0, 0.1) init, bias 0.1, lr 0.05, one pass";
        (string First, string Second, string Loss, string Figure, string Row)[] table2 =
        [
            ("normal", "normal", "softmax-mse", "0.6717", "Normal\tNormal\tsoftmax\t0.6717"),
            ("normal", "-max", "softmax-mse", "0.8959", "normal\t-max\tsoftmax\t0.8959"),
            ("relu", "-max", "softmax-mse", "0.9051", "relu\t-max\tsoftmax\t0.9051"),
            ("sigmoid", "-max", "softmax-mse", "0.9204", "sigmoid\t-max\tsoftmax\t0.9204"),
            ("normal", "normal", "ce", "0.6186", "normal\tnormal\tSoftmax-cross-entropy\t0.6186"),
            ("normal", "-max", "ce", "0.8848", "Normal\t-max\tSoftmax-cross-entropy\t0.8848"),
            ("relu", "-max", "ce", "0.9228", "Relu\t-max\tSoftmax-cross-entropy\t0.9228"),
            ("sigmoid", "-max", "ce", "0.9152", "sigmoid\t-max\tSoftmax-cross-entropy\t0.9152"),
        ];
        foreach (var (first, second, loss, figure, row) in table2)
        {
            string a = first == "normal" ? "divnorm" : first, b = second == "normal" ? "divnorm" : "minusmax";
            string lossName = loss == "ce" ? "ce" : "mse";
            list.Add(new Experiment
            {
                Id = $"t2-{first}-{(second == "-max" ? "max" : "normal")}-{lossName}", Group = "seed000-table2", GroupTitle = t2,
                Name = $"{first}/{second} {(loss == "ce" ? "softmax-CE" : "softmax")}",
                SeedFigure = figure, SeedSource = $"seed 000 Table2: \"{row}\"",
                Spec = $"flatten,dense{Table2Hidden},{a},dense10,{b}", Loss = loss, Init = InitScheme.Normal, Options = OnePassSingleSample, MatchedSteps = true,
                Note = "'normal' = divide by the norm (divnorm), '-max' = subtract the max (minusmax)",
            });
        }

        // Seed 000, Table 3: the seed CNN, one pass, single samples, in float ("format short") and double ("format long").
        const string t3 = "Seed 000, Table 3: the seed CNN, N(0, 0.1) init, bias 0.1, one pass, single samples";
        var t3Options = OnePassSingleSample with { LearningRate = 0.005 };
        const string t3Note = "lr 0.005 = the seed's 0.05 with its cross-entropy's 1/10 (per class) factor";
        list.Add(new Experiment
        {
            Id = "t3-float", Group = "seed000-table3", GroupTitle = t3, Name = "float (format short)",
            SeedFigure = "0.9358", SeedSource = "seed 000 Table3: \"Formal short\t0.9358\"",
            Spec = SeedCnn, Loss = "ce", Init = InitScheme.Normal, Options = t3Options, Note = t3Note,
        });
        list.Add(new Experiment
        {
            Id = "t3-double", Group = "seed000-table3", GroupTitle = t3, Name = "double (format long)", Double = true,
            SeedFigure = "0.9383", SeedSource = "seed 000 Table3: \"Formal long\t0.9383\"",
            Spec = SeedCnn, Loss = "ce", Init = InitScheme.Normal, Options = t3Options, Note = t3Note,
        });
        list.Add(new Experiment
        {
            Id = "t3-float-lr0.05", Group = "seed000-table3", GroupTitle = t3, Name = "float, lr 0.05",
            Spec = SeedCnn, Loss = "ce", Init = InitScheme.Normal, Options = OnePassSingleSample, ReportOutputScale = true,
            Note = "the seed's lr 0.05 with the standard cross-entropy (10x the seed's gradient): shows why the rate above was chosen",
        });

        // Seed 000's failure story: the same CNN with rand() init.
        list.Add(new Experiment
        {
            Id = "failure-rand-init", Group = "seed000-failure", GroupTitle = "Seed 000's failure story: the seed CNN with rand() init (uniform [0, 1) weights and biases)",
            Name = "rand() init", SeedFigure = null, SeedSource = "seed 000: outputs reach the 10^6 scale, exp overflows, NaN, accuracy never rises",
            Spec = SeedCnn, Loss = "ce", Init = InitScheme.Uniform, Options = t3Options, ReportOutputScale = true,
            Note = "Table 3's settings with rand() init",
        });

        // Seed 000's remark: batch vs single-sample training, same budget of samples.
        const string batchTitle = "Seed 000's remark: single-sample vs mini-batch training at the same budget (5 passes), two-layer relu / -max / softmax-CE net";
        string batchSpec = $"flatten,dense{Table2Hidden},relu,dense10,minusmax";
        list.Add(new Experiment
        {
            Id = "batch-single", Group = "seed000-batch", GroupTitle = batchTitle, Name = "batch 1",
            SeedSource = "seed 000: batch training starts slower and needs longer to reach single-sample accuracy, but ends somewhat better",
            Spec = batchSpec, Loss = "ce", Init = InitScheme.Normal, Options = OnePassSingleSample with { Epochs = 5 },
            Note = "5 passes, lr 0.05",
        });
        list.Add(new Experiment
        {
            Id = "batch-mini", Group = "seed000-batch", GroupTitle = batchTitle, Name = "batch 32",
            Spec = batchSpec, Loss = "ce", Init = InitScheme.Normal, Options = OnePassSingleSample with { Epochs = 5, BatchSize = 32 },
            Note = "5 passes, lr 0.05 (32x fewer steps)",
        });

        // Seed 004: the 3-layer and 5-layer models.
        const string s004 = "Seed 004: the 3-layer and 5-layer models (24x24 centre crop, squared error on sigmoid outputs, batch 100)";
        var s004Options = new TrainingOptions { Epochs = 6, BatchSize = 100, Optimizer = "sgd", LearningRate = 0.03 };
        list.Add(new Experiment
        {
            Id = "s004-3layer", Group = "seed004", GroupTitle = s004, Name = "3-layer",
            SeedSource = "seed 004 (a proof; it reports no accuracy): conv 32 3x3 → 22x22, max-pool 2 → 11x11, FC 2048, 10 outputs",
            Spec = "crop24x24,conv3x3x32,relu,maxpool2,flatten,dense2048,relu,dense10,sigmoid", Loss = "mse", Init = InitScheme.He, Options = s004Options,
            Note = "f1 = f3 = relu, f4 = sigmoid (the seed leaves them open); He init; SGD lr 0.03 on the batch-mean loss (the seed sums over its 100 inputs), 6 passes. "
                + "Squared error on sigmoid outputs is touchy: the logits move by about lr·‖h‖² per step (‖h‖² over 2,048 units), and at lr 0.1 one run in three "
                + "(and the 5-layer model in every run) pushes all ten sigmoids into saturation at 0, where their gradient y(1 − y) vanishes and the loss sits at 0.5",
        });
        list.Add(new Experiment
        {
            Id = "s004-5layer", Group = "seed004", GroupTitle = s004, Name = "5-layer",
            SeedSource = "seed 004: pool 1 takes 32 maps of 11x11, zero-padded to 12x12, to 6x6; conv 2: 64 kernels 2x2 → 5x5",
            Spec = "crop24x24,conv3x3x32,relu,maxpool2,maxpool2:pad,conv2x2x64,relu,flatten,dense2048,relu,dense10,sigmoid", Loss = "mse", Init = InitScheme.He, Options = s004Options,
            Note = "the 3-layer front (conv, pool to 11x11) kept as the seed says; then pad 11x11 to 12x12 and pool (maxpool2:pad), conv 64 2x2",
        });

        // Seed 002: LeNet-5.
        list.Add(new Experiment
        {
            Id = "lenet5", Group = "lenet5", GroupTitle = "Seed 002: LeNet-5 with C3's connection table and trainable subsampling",
            Name = "LeNet-5", SeedFigure = "0.9905 (0.95 % error)", SeedSource = "LeCun et al. 1998: 0.95 % test error on full MNIST (60,000 training images, 20 passes); seed 002 gives no figure",
            Spec = Presets.Find("lenet5")!.Spec, Loss = "ce", Init = InitScheme.LeCun,
            Options = new TrainingOptions { Epochs = 10, BatchSize = 16, Optimizer = "momentum", Momentum = 0.9, LearningRate = 0.01 },
            Note = "the lenet5 preset; SGD with momentum 0.9, lr 0.01, batch 16, 10 passes",
        });

        // Beyond the seeds: batch normalisation rescues the rand()-initialised CNN.
        const string bn = "Beyond the seeds: batch normalisation and the rand()-initialised CNN (batch 32, Adam lr 0.01, 3 passes)";
        var bnOptions = new TrainingOptions { Epochs = 3, BatchSize = 32, Optimizer = "adam", LearningRate = 0.01 };
        list.Add(new Experiment
        {
            Id = "bn-rand-init", Group = "bn-rescue", GroupTitle = bn, Name = "rand() init",
            SeedSource = "seed 000 cites Ioffe and Szegedy's batch normalisation as the remedy for the exploding outputs",
            Spec = SeedCnn, Loss = "ce", Init = InitScheme.Uniform, Options = bnOptions, ReportOutputScale = true,
            Note = "mini-batches, since a dense layer's batch statistics need more than one sample; Adam, whose step size does not grow with the gradient, so the exploded net is not simply thrown to NaN",
        });
        list.Add(new Experiment
        {
            Id = "bn-rand-init-bn", Group = "bn-rescue", GroupTitle = bn, Name = "rand() + batch norm",
            Spec = SeedCnnBatchNorm, Loss = "ce", Init = InitScheme.Uniform, Options = bnOptions, ReportOutputScale = true,
            Note = "batchnorm after both convolutions and the 1,024-unit layer (γ = 1, β = 0 at the start): every hidden layer is normalised, "
                + "so the outputs start about a million times smaller than without it; only the last layer's rand() weights still scale them up",
        });
        list.Add(new Experiment
        {
            Id = "bn-rand-init-bn-sgd", Group = "bn-rescue", GroupTitle = bn, Name = "rand() + BN, SGD",
            Spec = SeedCnnBatchNorm, Loss = "ce", Init = InitScheme.Uniform, Options = bnOptions with { Optimizer = "sgd", LearningRate = 0.05 },
            Note = "plain SGD lr 0.05: batch norm makes each layer blind to its weights' scale, so the effective step of a weight vector is lr / ‖w‖², "
                + "and rand()'s all-positive weights are long (‖w‖² ≈ fan-in / 3, about 1,000 for the 1,024-unit layer) and nearly parallel (every unit first computes about the same sum): learning crawls",
        });

        // Beyond the seeds: the Fashion-MNIST recipe.
        list.Add(new Experiment
        {
            Id = "fashion", Group = "fashion", GroupTitle = "Fashion-MNIST recipe: the seed CNN's layout plus batch norm and dropout, no augmentation",
            Name = "seed CNN + BN + dropout", SeedFigure = "0.916", SeedSource = "Fashion-MNIST README: \"2 Conv+pooling | None | 0.916\" (TensorFlow tutorial); target ≥ 0.930",
            Spec = FashionSpec, Loss = "ce", Init = InitScheme.He, Options = FashionOptions, RequiresFashion = true, Target = 0.930,
            Note = "SGD momentum 0.9, lr 0.05 cosine to 0, weight decay 5e-4, batch 128, 30 passes, He init",
        });
        list.Add(new Experiment
        {
            Id = "augment-fashion", Group = "augment", GroupTitle = "Fashion-MNIST with augmentation: a VGG-style model behind random crops and flips",
            Name = "randcrop2 + randflip + VGG-style", SeedFigure = "0.9359", SeedSource = "the recipe above without augmentation (docs/fashion-mnist.md); target ≥ 0.940",
            Spec = FashionAugmentedSpec, Loss = "ce", Init = InitScheme.He, Options = FashionAugmentedOptions, RequiresFashion = true, Target = 0.940,
            Note = "model and augmentation chosen on a 10 % validation split; crop after 2 pixels of zero padding and a horizontal flip per image and step; SGD momentum 0.9, lr 0.05 cosine to 0, weight decay 5e-4, batch 128, 40 passes, He init",
        });
        return list;
    }
}
