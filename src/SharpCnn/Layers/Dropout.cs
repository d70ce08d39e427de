using System.Globalization;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Inverted dropout with rate p: in training each value is kept with probability 1 - p and
/// scaled by 1/(1 - p), so that the expected output equals the input and evaluation needs
/// no rescaling; in evaluation mode the layer is the identity.
///
/// Shapes: any; y has x's shape.
///
/// Forward (training):  y_i = x_i · k_i / (1 - p),   k_i = [u_i ≥ p] ∈ {0, 1}
/// Backward (training): ∂L/∂x_i = ∂L/∂y_i · k_i / (1 - p)     (y is linear in x for a fixed mask)
/// Forward/backward (evaluation): y = x, ∂L/∂x = ∂L/∂y.
///
/// The mask is a pure function of (seed, step, i), with i the element's index in the batch
/// (i = n·D + j): u_i = the top 53 bits of SplitMix64's finaliser applied to a per-step key plus
/// i times the golden-ratio constant, i.e. a counter-based hash, not a stateful generator.
/// The trainer sets (seed, step) before each training forward (<see cref="IStepSeeded"/>);
/// Backward recomputes the same mask, so nothing is stored between the two, and any step
/// of a resumed run draws exactly the mask it drew the first time.
/// </summary>
public sealed class Dropout<T> : Layer<T>, IStepSeeded where T : unmanaged, IFloatingPointIeee754<T>
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private ulong key = StepKey(0, 0);
    private bool dropped;

    /// <summary>Creates dropout with rate <paramref name="rate"/> (the probability of dropping a value, 0 ≤ p &lt; 1).</summary>
    public Dropout(double rate)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentOutOfRangeException(nameof(rate), rate, $"dropout rate {rate.ToString(CultureInfo.InvariantCulture)} is outside [0, 1)");
        Rate = rate;
        // Keep when the 53-bit uniform integer is at least p · 2⁵³ (so P(keep) = 1 - p up to 2⁻⁵³).
        Threshold = (ulong)Math.Ceiling(rate * (1UL << 53));
    }

    /// <summary>p, the probability of dropping a value in training.</summary>
    public double Rate { get; }

    /// <summary>The keep threshold on 53-bit uniform integers: keep when u ≥ it.</summary>
    private ulong Threshold { get; }

    /// <summary>The seed last set by <see cref="SetStep"/> (0 until then).</summary>
    public ulong Seed { get; private set; }

    /// <summary>The step last set by <see cref="SetStep"/> (0 until then).</summary>
    public long Step { get; private set; }

    /// <inheritdoc />
    public override string Token => "dropout" + Rate.ToString("R", CultureInfo.InvariantCulture).ToLowerInvariant(); // 1e-05, not 1E-05

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => InputShape.Size;

    /// <inheritdoc />
    public void SetStep(ulong seed, long step)
    {
        Seed = seed;
        Step = step;
        key = StepKey(seed, step);
    }

    /// <summary>True when element <paramref name="index"/> of the batch is kept at the current (seed, step).</summary>
    public bool Keeps(long index) => (Mix(key + (ulong)index * Golden) >> 11) >= Threshold;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int len = n * InputShape.Size;
        dropped = Training && Rate != 0;
        if (!dropped)
        {
            x[..len].CopyTo(y);
            return;
        }
        Apply(x[..len], y);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int len = n * InputShape.Size;
        if (!dropped)
        {
            dy[..len].CopyTo(dx);
            return;
        }
        Apply(dy[..len], dx);
    }

    /// <summary>to_i = from_i · k_i / (1 - p) with the current mask.</summary>
    private void Apply(ReadOnlySpan<T> from, Span<T> to)
    {
        T scale = T.One / (T.One - T.CreateChecked(Rate));
        ulong threshold = Threshold, k = key;
        for (int i = 0; i < from.Length; i++)
            to[i] = (Mix(k + (ulong)i * Golden) >> 11) >= threshold ? from[i] * scale : T.Zero;
    }

    private static ulong StepKey(ulong seed, long step) => Mix(seed ^ Mix((ulong)step + Golden));

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
