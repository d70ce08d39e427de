using SharpCnn.Formats.Onnx.Proto;
using AttributeType = SharpCnn.Formats.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// A node's attributes, checked against the names its operator defines: an unknown or
/// repeated attribute, or one of the wrong type, is an error rather than something
/// silently ignored (it could change what the operator computes).
/// </summary>
internal sealed class OnnxNodeAttributes
{
    private readonly Dictionary<string, AttributeProto> byName = [];
    private readonly Func<string, Exception> fail;

    /// <summary>Reads <paramref name="node"/>'s attributes, allowing only <paramref name="known"/>; <paramref name="fail"/> makes the error for a message.</summary>
    public OnnxNodeAttributes(NodeProto node, IReadOnlyCollection<string> known, Func<string, Exception> fail)
    {
        this.fail = fail;
        if (node.Attribute.Count > 64) throw fail($"has {node.Attribute.Count} attributes; no supported operator has that many");
        foreach (var a in node.Attribute)
        {
            if (!known.Contains(a.Name))
                throw fail(known.Count == 0
                    ? $"has the attribute '{a.Name}'; this operator takes none"
                    : $"has the attribute '{a.Name}', which SharpCnn does not know for this operator (known: {string.Join(", ", known)})");
            if (!byName.TryAdd(a.Name, a)) throw fail($"gives the attribute '{a.Name}' twice");
            if (!string.IsNullOrEmpty(a.RefAttrName)) throw fail($"attribute '{a.Name}' refers to a function attribute; SharpCnn imports plain graphs only");
        }
    }

    /// <summary>True when the attribute is present.</summary>
    public bool Has(string name) => byName.ContainsKey(name);

    /// <summary>An integer attribute, or <paramref name="fallback"/> when absent.</summary>
    public long Int(string name, long fallback) => Get(name, AttributeType.Int) is { } a ? a.I : fallback;

    /// <summary>A float attribute, or <paramref name="fallback"/> when absent.</summary>
    public float Float(string name, float fallback) => Get(name, AttributeType.Float) is { } a ? a.F : fallback;

    /// <summary>A string attribute, or <paramref name="fallback"/> when absent.</summary>
    public string String(string name, string fallback) => Get(name, AttributeType.String) is { } a ? a.S.ToStringUtf8() : fallback;

    /// <summary>An integer-list attribute of exactly <paramref name="length"/> values, or null when absent.</summary>
    public long[]? Ints(string name, int length)
    {
        if (Get(name, AttributeType.Ints) is not { } a) return null;
        if (a.Ints.Count != length) throw fail($"attribute '{name}' has {a.Ints.Count} values, expected {length}");
        return [.. a.Ints];
    }

    /// <summary>A tensor attribute, or null when absent.</summary>
    public TensorProto? Tensor(string name) => Get(name, AttributeType.Tensor)?.T;

    /// <summary>A float-list attribute, or null when absent.</summary>
    public float[]? Floats(string name) => Get(name, AttributeType.Floats) is { } a ? [.. a.Floats] : null;

    /// <summary>An integer-list attribute of any length, or null when absent.</summary>
    public long[]? IntList(string name) => Get(name, AttributeType.Ints) is { } a ? [.. a.Ints] : null;

    private AttributeProto? Get(string name, AttributeType expected)
    {
        if (!byName.TryGetValue(name, out var a)) return null;
        if (a.Type != expected)
        {
            // Files from before the type field existed leave it unset; accept them when the expected field holds the value.
            bool legacyMatch = a.Type == AttributeType.Undefined && expected switch
            {
                AttributeType.Int => a.HasI,
                AttributeType.Float => a.HasF,
                AttributeType.String => a.HasS,
                AttributeType.Tensor => a.T is not null,
                AttributeType.Ints => a.Ints.Count > 0,
                AttributeType.Floats => a.Floats.Count > 0,
                _ => false,
            };
            if (!legacyMatch) throw fail($"attribute '{name}' is of type {a.Type.ToString().ToUpperInvariant()}, expected {expected.ToString().ToUpperInvariant()}");
        }
        if (expected == AttributeType.Tensor && a.T is null) throw fail($"attribute '{name}' holds no tensor");
        return a;
    }
}
