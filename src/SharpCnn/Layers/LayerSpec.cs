using System.Globalization;
using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Model;

namespace SharpCnn.Layers;

/// <summary>
/// What a layer is, apart from its numbers: a typed, precision-free record of its options
/// (a convolution's kernel size, stride, padding and table; a dropout's rate). A
/// <see cref="ModelSpec"/> is a list of these; <see cref="Create{T}"/> makes the layer in
/// either precision, and a built layer gives its description back (<see cref="Layer{T}.Spec"/>).
///
/// Each kind of layer has one file holding its math (<see cref="Layer{T}"/>), its description
/// (a record deriving from this one), and its <see cref="LayerKind"/>: the spec grammar, traits and
/// ONNX mapping. <see cref="LayerKinds"/> is the one table that registers the kinds.
/// </summary>
public abstract record LayerSpec
{
    /// <summary>The kind of layer: its grammar, traits and ONNX mapping.</summary>
    public abstract LayerKind Kind { get; }

    /// <summary>The canonical spec token, e.g. <c>conv5x5x32:same</c>; it parses back to an equal description.</summary>
    public abstract string Token { get; }

    /// <summary>Makes the (not yet built) layer in precision <typeparamref name="T"/>.</summary>
    /// <exception cref="ArgumentException">The options cannot make a layer (checked again by the layer's constructor).</exception>
    public abstract Layer<T> Create<T>() where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Writes the built <paramref name="layer"/> (made from this description) into an ONNX graph:
    /// the nodes that compute it from <see cref="OnnxLayerExport{T}.Input"/>. The default says the kind has
    /// no ONNX form.
    /// </summary>
    internal virtual void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) where T : unmanaged, IFloatingPointIeee754<T> =>
        throw export.Unsupported("has no ONNX form in this exporter");

    /// <summary>The token.</summary>
    public sealed override string ToString() => Token;
}

/// <summary>
/// One kind of layer: the grammar of its spec token (<see cref="Parse"/>), its traits, and
/// which ONNX operators it reads back. Kinds are registered in <see cref="LayerKinds"/>; a
/// library user may register a kind of their own there so that specs and model files name it.
/// </summary>
public abstract class LayerKind
{
    /// <summary>The kind's name, the head of its token without numbers (<c>conv</c>, <c>dropout</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The token's form for help texts and error messages, e.g. <c>conv{kh}x{kw}x{out}</c>.</summary>
    public abstract string Grammar { get; }

    /// <summary>One line on what the layer computes and its options, for help texts.</summary>
    public abstract string Summary { get; }

    /// <summary>What the engine may assume about layers of this kind.</summary>
    public abstract LayerTraits Traits { get; }

    /// <summary>
    /// Reads <paramref name="token"/> as a layer of this kind: its description, or null when the token
    /// is another kind's (its head is not this kind's). A token of this kind with bad options throws
    /// <see cref="ModelSpecException"/> through <see cref="LayerToken.Error"/>.
    /// </summary>
    public abstract LayerSpec? Parse(LayerToken token);

    /// <summary>The ONNX operators this kind reads back (see <see cref="ImportOnnx"/>).</summary>
    internal virtual IReadOnlyList<string> OnnxOperators => [];

    /// <summary>
    /// Translates one ONNX node of an operator in <see cref="OnnxOperators"/> at the end of the chain
    /// <paramref name="import"/> is walking: adds the layer (or nothing, for an operator that changes
    /// nothing SharpCnn keeps), or throws the importer's error naming the node.
    /// </summary>
    internal virtual void ImportOnnx(OnnxGraphImporter import, Formats.Onnx.Proto.NodeProto node) =>
        throw new InvalidOperationException($"{Name} lists ONNX operators it does not import");

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>What the engine may assume about a kind of layer.</summary>
[Flags]
public enum LayerTraits
{
    /// <summary>None of the below.</summary>
    None = 0,

    /// <summary>Has parameters (trained values or saved state such as running statistics).</summary>
    Parameters = 1 << 0,

    /// <summary>Makes random choices in training, fixed per step (<see cref="IStepSeeded"/>), e.g. dropout's mask.</summary>
    StepSeeded = 1 << 1,

    /// <summary>The output's shape may differ from the input's.</summary>
    ChangesShape = 1 << 2,

    /// <summary>
    /// Whenever the input is finite, the output is finite and no larger in magnitude than the input's
    /// largest value (max|relu(x)| ≤ max|x|; sigmoid and tanh are bounded by 1): the divergence guard
    /// need not scan the output, the layer before was scanned.
    /// </summary>
    Bounded = 1 << 3,

    /// <summary>In training, normalises with statistics over the batch (batch norm): a sample's output depends on the others', so gradient checks want batches of several samples.</summary>
    BatchStatistics = 1 << 4,

    /// <summary>Element by element: output i depends on input i alone.</summary>
    Elementwise = 1 << 5,
}

/// <summary>
/// One layer token of a spec, split for a <see cref="LayerKind"/> to read: the head before the first
/// ':' and the options after it, with helpers for numbers and for errors that name the position.
/// </summary>
public sealed partial class LayerToken
{
    /// <summary>Splits <paramref name="text"/> (already trimmed and lower-cased), the token at 1-based <paramref name="position"/>.</summary>
    public LayerToken(string text, int position)
    {
        ArgumentNullException.ThrowIfNull(text);
        Text = text;
        Position = position;
        string[] parts = text.Split(':');
        Head = parts[0];
        Options = parts[1..];
    }

    /// <summary>The token as written (lower-cased).</summary>
    public string Text { get; }

    /// <summary>1-based position in the spec (0 when the token stands alone).</summary>
    public int Position { get; }

    /// <summary>The part before the first ':', e.g. <c>conv5x5x32</c>.</summary>
    public string Head { get; }

    /// <summary>The ':'-separated options after the head.</summary>
    public IReadOnlyList<string> Options { get; }

    /// <summary>The error for this token: <c>layer {position} '{token}': {reason}</c>.</summary>
    public ModelSpecException Error(string reason) => new(Position, Text, reason);

    /// <summary>Throws unless the token has no options.</summary>
    public void RequireNoOptions()
    {
        if (Options.Count > 0) throw Error($"'{Head}' takes no options, got ':{string.Join(":", Options)}'");
    }

    /// <summary>A size written in decimal digits: 1 to 1,000,000.</summary>
    public int Size(string digits)
    {
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v > 1_000_000)
            throw Error($"'{digits}' is not a size this engine accepts");
        if (v == 0) throw Error("a size of 0 leaves nothing");
        return v;
    }

    /// <summary>A non-negative number written as a plain decimal (0.5) or in exponent form (1e-5); no sign or thousands separator.</summary>
    /// <param name="text">The number as written.</param>
    /// <param name="what">What it is, for the error (e.g. "dropout rate").</param>
    public double Number(string text, string what)
    {
        if (!NumberText().IsMatch(text) || !double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double v))
            throw Error($"{what} '{text}' is not a decimal number like 0.5 or 1e-5");
        return v;
    }

    /// <summary>A number as tokens write it: the shortest form that reads back exactly, exponent in lower case (1e-05).</summary>
    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture).ToLowerInvariant();

    /// <inheritdoc />
    public override string ToString() => Text;

    [GeneratedRegex(@"^\d*\.?\d+(?:e[-+]?\d+)?$")]
    private static partial Regex NumberText();
}

/// <summary>
/// A kind whose token is one fixed word and has no options (<c>relu</c>, <c>flatten</c>), with one
/// description instance; <paramref name="names"/> are the word and its aliases.
/// </summary>
/// <typeparam name="TSpec">The kind's description.</typeparam>
public abstract class WordLayerKind<TSpec>(params string[] names) : LayerKind where TSpec : LayerSpec
{
    /// <summary>The one description of this kind.</summary>
    protected abstract TSpec Description { get; }

    /// <inheritdoc />
    public override string Name => names[0];

    /// <inheritdoc />
    public override string Grammar => names[0];

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (Array.IndexOf(names, token.Head) < 0) return null;
        token.RequireNoOptions();
        return Description;
    }
}

/// <summary>
/// The description of a layer written in code without a kind of its own (a variant of a layer for an
/// experiment, a layer under test): <see cref="Token"/> is its name in messages and summaries. No spec
/// token reads back to it, so it cannot be recreated from text, saved in a model file or exported.
/// </summary>
/// <param name="Name">What messages call the layer.</param>
public sealed record CodeLayerSpec(string Name) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => CodeLayerKind.Instance;

    /// <inheritdoc />
    public override string Token => Name;

    /// <inheritdoc />
    public override Layer<T> Create<T>() =>
        throw new NotSupportedException($"the layer '{Name}' was made in code; it has no description to recreate it from");

    /// <summary>The kind of every layer made in code: it reads no token and promises nothing.</summary>
    private sealed class CodeLayerKind : LayerKind
    {
        public static CodeLayerKind Instance { get; } = new();

        public override string Name => "code";

        public override string Grammar => "(a layer made in code)";

        public override string Summary => "a layer made in code, without a spec token";

        public override LayerTraits Traits => LayerTraits.None;

        public override LayerSpec? Parse(LayerToken token) => null;
    }
}
