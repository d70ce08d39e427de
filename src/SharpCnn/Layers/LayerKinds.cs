using SharpCnn.Model;

namespace SharpCnn.Layers;

/// <summary>
/// The table of layer kinds: every kind SharpCnn knows, registered once, in the order help texts
/// list them. Parsing a spec token, naming the known layers in an error and finding the kind that
/// reads an ONNX operator all go through here; nothing else in the engine lists layer kinds.
/// A library user may <see cref="Register"/> a kind of their own, after which spec strings and
/// model files may name it.
/// </summary>
public static class LayerKinds
{
    private static readonly object Gate = new();

    // The registrations: one line per kind.
    private static LayerKind[] s_all =
    [
        ConvKind.Instance,
        MaxPoolKind.Instance,
        MeanPoolKind.Instance,
        SubsampleKind.Instance,
        DenseKind.Instance,
        FlattenKind.Instance,
        ReluKind.Instance,
        SigmoidKind.Instance,
        TanhKind.Instance,
        IdentityKind.Instance,
        SubtractMaxKind.Instance,
        DivideByNormKind.Instance,
        CenterCropKind.Instance,
        BatchNormKind.Instance,
        DropoutKind.Instance,
        LeakyReluKind.Instance,
        NormalizeKind.Instance,
        RandomCropKind.Instance,
        RandomShiftKind.Instance,
        RandomFlipKind.Instance,
    ];

    /// <summary>Every registered kind, in registration order.</summary>
    public static IReadOnlyList<LayerKind> All => Volatile.Read(ref s_all);

    /// <summary>Each kind's token form, for help texts and errors (<c>conv{kh}x{kw}x{out}</c>, <c>relu</c>, ...).</summary>
    public static IReadOnlyList<string> Grammars => [.. All.Select(k => k.Grammar)];

    /// <summary>The kind named <paramref name="name"/>, or null.</summary>
    public static LayerKind? Find(string name) => All.FirstOrDefault(k => k.Name == name);

    /// <summary>
    /// Adds <paramref name="kind"/> to the table (after the built-in kinds). Its name must be new; its
    /// tokens should not be read by another kind (the first kind that reads a token wins).
    /// </summary>
    /// <exception cref="ArgumentException">A kind of that name is registered already.</exception>
    public static void Register(LayerKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        lock (Gate)
        {
            if (Find(kind.Name) is not null) throw new ArgumentException($"a layer kind named '{kind.Name}' is registered already", nameof(kind));
            Volatile.Write(ref s_all, [.. s_all, kind]);
        }
    }

    /// <summary>Reads one layer token: the description from the first kind that recognises it.</summary>
    /// <exception cref="ModelSpecException">No kind reads the token, or its kind rejects its options; the message names the position.</exception>
    public static LayerSpec Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        foreach (var kind in All)
            if (kind.Parse(token) is { } spec) return spec;
        throw token.Error($"unknown layer '{token.Head}'; known layers: {string.Join(", ", Grammars)}");
    }

    /// <summary>The kind that imports ONNX operator <paramref name="op"/>, or null.</summary>
    internal static LayerKind? ForOnnxOperator(string op) => All.FirstOrDefault(k => k.OnnxOperators.Contains(op));

    /// <summary>Every ONNX operator some kind imports, in registration order.</summary>
    internal static IEnumerable<string> OnnxOperators => All.SelectMany(k => k.OnnxOperators);
}
