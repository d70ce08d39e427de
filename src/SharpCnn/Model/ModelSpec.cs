using System.Globalization;
using System.Text.RegularExpressions;
using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>
/// The compact text form of a network, usable from the CLI and the library:
/// comma-separated layer tokens, each optionally followed by ':'-separated options.
/// <code>
/// conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,dense1024,relu,dense10
/// </code>
/// Tokens (case-insensitive):
/// <list type="bullet">
/// <item><c>input{C}x{H}x{W}</c> or <c>input{H}x{W}</c> (first token only; otherwise the data decides)</item>
/// <item><c>conv{kh}x{kw}x{out}</c> with options <c>valid</c> (default), <c>same</c>, <c>full</c>,
///   <c>p{n}</c>, <c>p{vertical}x{horizontal}</c>, <c>p{top}-{bottom}-{left}-{right}</c>, <c>s{stride}</c>,
///   <c>table=lenet5</c> or <c>table=</c>rows of 0/1 per output map separated by dots</item>
/// <item><c>maxpool{k}</c>, <c>meanpool{k}</c> (or <c>{kh}x{kw}</c>) with options <c>s{stride}</c> (default: the window), <c>drop</c> (default) or <c>pad</c></item>
/// <item><c>subsample{k}</c> (LeNet's trainable β·sum + b) with <c>drop</c> or <c>pad</c></item>
/// <item><c>dense{n}</c>, <c>flatten</c>, <c>relu</c>, <c>sigmoid</c>, <c>tanh</c>, <c>identity</c></item>
/// <item><c>minusmax</c> (seed 000's '-max'), <c>divnorm</c> (seed 000's 'normal': divide by the norm)</item>
/// <item><c>crop{h}x{w}</c> (centre crop)</item>
/// <item><c>batchnorm</c> (or <c>bn</c>; per channel for maps, per feature for vectors) with options <c>m{momentum}</c>
///   (default 0.1) and <c>e{epsilon}</c> (default 1e-5), e.g. <c>batchnorm:m0.01:e0.001</c></item>
/// <item><c>dropout{p}</c>, e.g. <c>dropout0.5</c> (inverted dropout with rate 0 ≤ p &lt; 1)</item>
/// </list>
/// Rates, momenta and epsilons are plain decimals (<c>0.001</c>) or in exponent form (<c>1e-3</c>).
/// Errors name the layer position and the reason (<see cref="ModelSpecException"/>).
/// </summary>
public sealed partial class ModelSpec
{
    private ModelSpec(Shape? input, IReadOnlyList<LayerSpec> layers)
    {
        Input = input;
        Layers = layers;
    }

    /// <summary>The input shape given by an <c>input…</c> token, or null.</summary>
    public Shape? Input { get; }

    /// <summary>The layer tokens, in order.</summary>
    public IReadOnlyList<LayerSpec> Layers { get; }

    /// <summary>The canonical text of this spec (parses back to the same network).</summary>
    public string Text => (Input is { } s ? $"input{s.Channels}x{s.Height}x{s.Width}," : "") + string.Join(",", Layers.Select(l => l.Token));

    /// <inheritdoc />
    public override string ToString() => Text;

    /// <summary>Parses a spec; throws <see cref="ModelSpecException"/> naming the position and reason.</summary>
    public static ModelSpec Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ModelSpecException(0, "", "the model spec is empty");
        string[] tokens = text.Split(',');
        Shape? input = null;
        var layers = new List<LayerSpec>();
        for (int i = 0; i < tokens.Length; i++)
        {
            string token = tokens[i].Trim().ToLowerInvariant();
            int position = i + 1;
            if (token.Length == 0) throw new ModelSpecException(position, "", "empty token (two commas in a row, or a trailing comma?)");
            var m = InputToken().Match(token);
            if (m.Success)
            {
                if (i != 0) throw new ModelSpecException(position, token, "an input shape can only be the first token");
                input = m.Groups[3].Success
                    ? new Shape(Int(m.Groups[1], position, token), Int(m.Groups[2], position, token), Int(m.Groups[3], position, token))
                    : new Shape(1, Int(m.Groups[1], position, token), Int(m.Groups[2], position, token));
                continue;
            }
            layers.Add(LayerSpec.Parse(token, position));
        }
        if (layers.Count == 0) throw new ModelSpecException(0, "", "the model spec has no layers");
        return new ModelSpec(input, layers);
    }

    /// <summary>
    /// Builds the network in precision <typeparamref name="T"/> for inputs of <paramref name="input"/>
    /// (or the spec's own input token when <paramref name="input"/> is null), with the named loss.
    /// Parameters are zero: initialise them with <see cref="Initializer"/>.
    /// </summary>
    public Network<T> Build<T>(Shape? input, string loss = "ce") where T : unmanaged, IFloatingPointIeee754<T>
    {
        Shape shape = (Input, input) switch
        {
            ({ } own, { } given) when own != given => throw new ModelSpecException(1, $"input{own.Channels}x{own.Height}x{own.Width}", $"the spec's input {own} does not match the data's {given}"),
            ({ } own, _) => own,
            (null, { } given) => given,
            _ => throw new ModelSpecException(0, "", "no input shape: give one with an input token (e.g. input1x28x28) or build for a data set"),
        };
        if (Losses.Losses.Canonical(loss) is null) throw new ModelSpecException(0, "", $"unknown loss '{loss}'; expected one of: {string.Join(", ", Losses.Losses.Names)}");
        var built = new List<Layer<T>>(Layers.Count);
        foreach (var spec in Layers)
        {
            try
            {
                built.Add(spec.Create<T>());
            }
            catch (ArgumentException e)
            {
                throw new ModelSpecException(spec.Position, spec.Token, e.Message);
            }
        }
        return new Network<T>(shape, built, Losses.Losses.Create<T>(loss));
    }

    internal static int Int(Group g, int position, string token)
    {
        if (!int.TryParse(g.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v > 1_000_000)
            throw new ModelSpecException(position, token, $"'{g.Value}' is not a size this engine accepts");
        if (v == 0) throw new ModelSpecException(position, token, "a size of 0 leaves nothing");
        return v;
    }

    [GeneratedRegex(@"^input(\d+)x(\d+)(?:x(\d+))?$")]
    private static partial Regex InputToken();
}

/// <summary>One parsed layer token; <see cref="Create{T}"/> makes the layer in either precision.</summary>
public sealed partial class LayerSpec
{
    private enum Kind { Conv, Dense, MaxPool, MeanPool, Subsample, Flatten, Relu, Sigmoid, Tanh, Identity, MinusMax, DivNorm, Crop, BatchNorm, Dropout }

    private Kind kind;
    private int a, b, c, stride = 1;
    private Padding padding;
    private PoolEdge edge;
    private bool[,]? table;
    private string? tableName;
    private double rate = BatchNorm<double>.DefaultMomentum;
    private double epsilon = BatchNorm<double>.DefaultEpsilon;

    private LayerSpec(int position, string token)
    {
        Position = position;
        Token = token;
    }

    /// <summary>1-based position in the spec.</summary>
    public int Position { get; }

    /// <summary>The token as written (lower-cased).</summary>
    public string Token { get; }

    /// <summary>The token kinds, for error messages and help.</summary>
    public static IReadOnlyList<string> Known { get; } =
        ["conv{kh}x{kw}x{out}", "dense{n}", "maxpool{k}", "meanpool{k}", "subsample{k}", "flatten", "relu", "sigmoid", "tanh", "identity", "minusmax", "divnorm", "crop{h}x{w}", "batchnorm", "dropout{p}"];

    /// <summary>Creates the layer.</summary>
    public Layer<T> Create<T>() where T : unmanaged, IFloatingPointIeee754<T> => kind switch
    {
        Kind.Conv => new Conv2d<T>(c, a, b, stride, padding, table, tableName),
        Kind.Dense => new Dense<T>(a),
        Kind.MaxPool => new MaxPool2d<T>(a, b, stride, edge),
        Kind.MeanPool => new MeanPool2d<T>(a, b, stride, edge),
        Kind.Subsample => new Subsample2d<T>(a, edge),
        Kind.Flatten => new Flatten<T>(),
        Kind.Relu => new Relu<T>(),
        Kind.Sigmoid => new Sigmoid<T>(),
        Kind.Tanh => new Tanh<T>(),
        Kind.Identity => new Identity<T>(),
        Kind.MinusMax => new SubtractMax<T>(),
        Kind.DivNorm => new DivideByNorm<T>(),
        Kind.Crop => new CenterCrop<T>(a, b),
        Kind.BatchNorm => new BatchNorm<T>(rate, epsilon),
        Kind.Dropout => new Dropout<T>(rate),
        _ => throw new InvalidOperationException(kind.ToString()),
    };

    internal static LayerSpec Parse(string token, int position)
    {
        string[] parts = token.Split(':');
        string head = parts[0];
        var spec = new LayerSpec(position, token);
        string[] options = parts[1..];
        Match m;
        switch (head)
        {
            case "flatten": spec.kind = Kind.Flatten; break;
            case "relu": spec.kind = Kind.Relu; break;
            case "sigmoid": spec.kind = Kind.Sigmoid; break;
            case "tanh": spec.kind = Kind.Tanh; break;
            case "identity" or "linear": spec.kind = Kind.Identity; break;
            case "minusmax" or "-max": spec.kind = Kind.MinusMax; break;
            case "divnorm" or "norm": spec.kind = Kind.DivNorm; break;
            case "batchnorm" or "bn":
                spec.kind = Kind.BatchNorm;
                spec.ParseBatchNormOptions(options);
                return spec;
            case "dropout":
                throw spec.Error("dropout needs a rate: dropout{p} with 0 <= p < 1, e.g. dropout0.5");
            default:
                if ((m = DropoutHead().Match(head)).Success)
                {
                    spec.kind = Kind.Dropout;
                    spec.rate = Fraction(m.Groups[1].Value, spec, "dropout rate");
                    if (!(spec.rate < 1)) throw spec.Error($"dropout rate {m.Groups[1].Value} is not below 1 (a rate of 1 would drop everything)");
                    break;
                }
                if ((m = ConvHead().Match(head)).Success)
                {
                    spec.kind = Kind.Conv;
                    spec.a = ModelSpec.Int(m.Groups[1], position, token);
                    spec.b = ModelSpec.Int(m.Groups[2], position, token);
                    spec.c = ModelSpec.Int(m.Groups[3], position, token);
                    spec.ParseConvOptions(options);
                    return spec;
                }
                if ((m = DenseHead().Match(head)).Success)
                {
                    spec.kind = Kind.Dense;
                    spec.a = ModelSpec.Int(m.Groups[1], position, token);
                    break;
                }
                if ((m = PoolHead().Match(head)).Success)
                {
                    spec.kind = m.Groups[1].Value switch { "maxpool" => Kind.MaxPool, "subsample" => Kind.Subsample, _ => Kind.MeanPool };
                    spec.a = ModelSpec.Int(m.Groups[2], position, token);
                    spec.b = m.Groups[3].Success ? ModelSpec.Int(m.Groups[3], position, token) : spec.a;
                    if (spec.kind == Kind.Subsample && spec.a != spec.b) throw spec.Error("subsampling blocks are square: write subsample{k}");
                    spec.stride = spec.a == spec.b ? spec.a : Math.Min(spec.a, spec.b);
                    spec.ParsePoolOptions(options);
                    return spec;
                }
                if ((m = CropHead().Match(head)).Success)
                {
                    spec.kind = Kind.Crop;
                    spec.a = ModelSpec.Int(m.Groups[1], position, token);
                    spec.b = ModelSpec.Int(m.Groups[2], position, token);
                    break;
                }
                throw spec.Error($"unknown layer '{head}'; known layers: {string.Join(", ", Known)}");
        }
        if (options.Length > 0) throw spec.Error($"'{head}' takes no options, got ':{string.Join(":", options)}'");
        return spec;
    }

    private void ParseConvOptions(string[] options)
    {
        bool paddingSet = false;
        foreach (string opt in options)
        {
            Match m;
            if (opt is "valid" or "same" or "full")
            {
                SetPadding(opt switch { "valid" => Padding.Valid, "same" => Padding.Same, _ => Padding.Full });
            }
            else if ((m = StrideOption().Match(opt)).Success)
            {
                stride = ModelSpec.Int(m.Groups[1], Position, Token);
            }
            else if ((m = PadOption().Match(opt)).Success)
            {
                int[] v = m.Groups[1].Value.Split('-').Select(int.Parse).ToArray();
                SetPadding(v.Length switch
                {
                    1 => Padding.All(v[0]),
                    4 => Padding.Sides(v[0], v[1], v[2], v[3]),
                    _ => throw Error($"padding '{opt}': write p{{n}}, p{{vertical}}x{{horizontal}} or p{{top}}-{{bottom}}-{{left}}-{{right}}"),
                });
            }
            else if ((m = PadPairOption().Match(opt)).Success)
            {
                int v = int.Parse(m.Groups[1].Value), h = int.Parse(m.Groups[2].Value);
                SetPadding(Padding.Sides(v, v, h, h));
            }
            else if (opt.StartsWith("table=", StringComparison.Ordinal))
            {
                string t = opt["table=".Length..];
                if (ConnectionTables.Named(t) is { } named)
                {
                    table = named;
                    tableName = t;
                }
                else
                {
                    try
                    {
                        table = ConnectionTables.Parse(t);
                    }
                    catch (FormatException e)
                    {
                        throw Error($"{e.Message} (or use a named table: lenet5)");
                    }
                }
                if (table.GetLength(0) != c) throw Error($"connection table has {table.GetLength(0)} rows but the layer has {c} output maps");
            }
            else
            {
                throw Error($"unknown convolution option '{opt}'; expected valid, same, full, p{{n}}, p{{t}}-{{b}}-{{l}}-{{r}}, s{{stride}} or table=...");
            }
        }

        void SetPadding(Padding p)
        {
            if (paddingSet) throw Error("padding is given twice");
            padding = p;
            paddingSet = true;
        }
    }

    private void ParsePoolOptions(string[] options)
    {
        bool edgeSet = false;
        foreach (string opt in options)
        {
            Match m;
            if (opt is "pad" or "drop")
            {
                if (edgeSet) throw Error("edge mode is given twice");
                edge = opt == "pad" ? PoolEdge.Pad : PoolEdge.Drop;
                edgeSet = true;
            }
            else if (kind != Kind.Subsample && (m = StrideOption().Match(opt)).Success)
            {
                stride = ModelSpec.Int(m.Groups[1], Position, Token);
            }
            else
            {
                throw Error($"unknown pooling option '{opt}'; expected {(kind == Kind.Subsample ? "" : "s{stride}, ")}drop or pad");
            }
        }
    }

    private void ParseBatchNormOptions(string[] options)
    {
        bool momentumSet = false, epsilonSet = false;
        foreach (string opt in options)
        {
            if (opt.Length > 1 && opt[0] == 'm')
            {
                if (momentumSet) throw Error("momentum is given twice");
                rate = Fraction(opt[1..], this, "batch-norm momentum");
                if (!(rate > 0 && rate <= 1)) throw Error($"batch-norm momentum {opt[1..]} is outside (0, 1]");
                momentumSet = true;
            }
            else if (opt.Length > 1 && opt[0] == 'e')
            {
                if (epsilonSet) throw Error("epsilon is given twice");
                epsilon = Fraction(opt[1..], this, "batch-norm epsilon");
                if (!(epsilon > 0) || double.IsInfinity(epsilon)) throw Error($"batch-norm epsilon {opt[1..]} is not a positive finite number");
                epsilonSet = true;
            }
            else
            {
                throw Error($"unknown batch-norm option '{opt}'; expected m{{momentum}} or e{{epsilon}}, e.g. batchnorm:m0.01:e0.001");
            }
        }
    }

    /// <summary>A non-negative number written as a plain decimal (0.5) or in exponent form (1e-5); no sign or thousands separator.</summary>
    private static double Fraction(string text, LayerSpec spec, string what)
    {
        if (!FractionText().IsMatch(text) || !double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double v))
            throw spec.Error($"{what} '{text}' is not a decimal number like 0.5 or 1e-5");
        return v;
    }

    private ModelSpecException Error(string reason) => new(Position, Token, reason);

    [GeneratedRegex(@"^dropout(.+)$")]
    private static partial Regex DropoutHead();

    [GeneratedRegex(@"^\d*\.?\d+(?:e[-+]?\d+)?$")]
    private static partial Regex FractionText();

    [GeneratedRegex(@"^conv(\d+)x(\d+)x(\d+)$")]
    private static partial Regex ConvHead();

    [GeneratedRegex(@"^(?:dense|fc)(\d+)$")]
    private static partial Regex DenseHead();

    [GeneratedRegex(@"^(maxpool|meanpool|avgpool|subsample)(\d+)(?:x(\d+))?$")]
    private static partial Regex PoolHead();

    [GeneratedRegex(@"^crop(\d+)x(\d+)$")]
    private static partial Regex CropHead();

    [GeneratedRegex(@"^s(\d+)$")]
    private static partial Regex StrideOption();

    [GeneratedRegex(@"^p(\d{1,4}(?:-\d{1,4})*)$")]
    private static partial Regex PadOption();

    [GeneratedRegex(@"^p(\d{1,4})x(\d{1,4})$")]
    private static partial Regex PadPairOption();
}
