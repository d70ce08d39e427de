namespace SharpCnn.Model;

/// <summary>
/// A model spec (or a network built from one) is not valid. The message names the layer
/// position (1-based), its token and the reason, e.g.
/// <c>layer 4 'conv9x9x8': kernel 9x9 is larger than its input 7x7</c>.
/// </summary>
public sealed class ModelSpecException : Exception
{
    /// <summary>Creates the exception for layer <paramref name="position"/> (1-based; 0 when it concerns the whole spec).</summary>
    public ModelSpecException(int position, string token, string reason)
        : base(position > 0 ? $"layer {position} '{token}': {reason}" : reason)
    {
        Position = position;
        Token = token;
        Reason = reason;
    }

    /// <summary>1-based position of the offending layer token; 0 for the spec as a whole.</summary>
    public int Position { get; }

    /// <summary>The offending token.</summary>
    public string Token { get; }

    /// <summary>Why it was rejected.</summary>
    public string Reason { get; }
}
