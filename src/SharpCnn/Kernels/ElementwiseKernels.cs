// Element-by-element kernels of the training step, vectorised with Vector<T> (256 bits on AVX2 and
// AVX-512 machines, 128 with AVX2 disabled; plain scalar code when it is not hardware-accelerated),
// each with the plain loop it is held to in the tests right beside it. They are memory-bound, so the
// 256-bit Vector<T> is as fast as 512-bit registers would be.
//
// None of them uses a fused multiply-add or reorders an expression: each operation is rounded on its
// own, as written, so a vector lane computes exactly what the scalar loop computes for that element and
// the fast kernels are bit-identical to their references (the tests check equality, not closeness), on
// every vector width (docs/DETERMINISM.md: element-wise updates are unfused everywhere; they are memory-
// bound, so FMA would buy nothing, and a machine without FMA pays nothing for them).
//
//   Adam:         m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g·g;  w ← w - η_t·m / (sqrt(v) + ε_t)
//   MultiplyAdd:  d = x·s + a   (the product rounded, then the sum: SGD, momentum, weight decay, batch norm)
//   MomentumStep: g' = w·λ + g (with decay);  v ← v·μ + g';  w ← v·r + w   (r = -η; one pass for Optimizer.Step's decay and Momentum)
//   ReluBackward: dx = x > 0 ? dy : 0
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpCnn.Kernels;

/// <summary>Vectorised element-wise kernels with their plain references.</summary>
internal static class ElementwiseKernels
{
    /// <summary>True when Vector&lt;T&gt; is hardware-accelerated for T (float or double).</summary>
    private static bool Accelerated<T>() => Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>One fused Adam update of w, m and v from g (formula at the top of the file).</summary>
    public static void Adam<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T beta1, T beta2, T step, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = w.Length;
        if (g.Length < length || m.Length < length || v.Length < length) throw new ArgumentException("Adam: g, m and v must be as long as w");
        int i = 0;
        if (Accelerated<T>()) i = AdamVector(w, g, m, v, beta1, beta2, step, epsilon);
        AdamScalar(w[i..], g[i..length], m[i..length], v[i..length], beta1, beta2, step, epsilon);
    }

    /// <summary>The plain loop <see cref="Adam{T}"/> is held to.</summary>
    public static void AdamReference<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T beta1, T beta2, T step, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
        => AdamScalar(w, g[..w.Length], m[..w.Length], v[..w.Length], beta1, beta2, step, epsilon);

    private static void AdamScalar<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T beta1, T beta2, T step, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T c1 = T.One - beta1, c2 = T.One - beta2;
        for (int i = 0; i < w.Length; i++)
        {
            T gi = g[i];
            T mi = beta1 * m[i] + c1 * gi;
            T vi = beta2 * v[i] + c2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] -= step * mi / (T.Sqrt(vi) + epsilon);
        }
    }

    /// <summary>Whole vectors of the Adam update; returns how many elements it did.</summary>
    private static int AdamVector<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T beta1, T beta2, T step, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = Vector<T>.Count, end = w.Length - w.Length % count;
        Vector<T> b1 = new(beta1), b2 = new(beta2), c1 = new(T.One - beta1), c2 = new(T.One - beta2);
        Vector<T> eta = new(step), eps = new(epsilon);
        ref T wr = ref MemoryMarshal.GetReference(w), mr = ref MemoryMarshal.GetReference(m), vr = ref MemoryMarshal.GetReference(v);
        ref T gr = ref MemoryMarshal.GetReference(g);
        for (nuint i = 0; i < (nuint)end; i += (nuint)count)
        {
            Vector<T> gi = Vector.LoadUnsafe(ref gr, i);
            Vector<T> mi = b1 * Vector.LoadUnsafe(ref mr, i) + c1 * gi;
            Vector<T> vi = b2 * Vector.LoadUnsafe(ref vr, i) + c2 * gi * gi;
            mi.StoreUnsafe(ref mr, i);
            vi.StoreUnsafe(ref vr, i);
            (Vector.LoadUnsafe(ref wr, i) - eta * mi / (Vector.SquareRoot(vi) + eps)).StoreUnsafe(ref wr, i);
        }
        return end;
    }

    /// <summary>
    /// destination = x · <paramref name="scale"/> + addend, element by element, the product rounded before the
    /// sum (never fused); <paramref name="destination"/> may be <paramref name="x"/> or <paramref name="addend"/>.
    /// </summary>
    public static void MultiplyAdd<T>(ReadOnlySpan<T> x, T scale, ReadOnlySpan<T> addend, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = destination.Length;
        if (x.Length != length || addend.Length != length) throw new ArgumentException("MultiplyAdd: x, addend and destination must be equally long");
        int i = 0;
        if (Accelerated<T>())
        {
            int count = Vector<T>.Count, end = length - length % count;
            Vector<T> s = new(scale);
            ref T xr = ref MemoryMarshal.GetReference(x), ar = ref MemoryMarshal.GetReference(addend), dr = ref MemoryMarshal.GetReference(destination);
            for (; i < end; i += count)
                (Vector.LoadUnsafe(ref xr, (nuint)i) * s + Vector.LoadUnsafe(ref ar, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        }
        MultiplyAddReference(x[i..], scale, addend[i..], destination[i..]);
    }

    /// <summary>The plain loop <see cref="MultiplyAdd{T}"/> is held to.</summary>
    public static void MultiplyAddReference<T>(ReadOnlySpan<T> x, T scale, ReadOnlySpan<T> addend, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < destination.Length; i++)
        {
            T product = x[i] * scale;
            destination[i] = product + addend[i];
        }
    }

    /// <summary>
    /// One pass of SGD with momentum and (when <paramref name="decayed"/>) weight decay, the operations of
    /// Optimizer.Step's decay then Momentum's two MultiplyAdd passes, in that order: g' = w·λ + g (only when
    /// decayed), v ← v·μ + g', w ← v·r + w (r = -η). The gradient is left as it is. Element ranges on several threads.
    /// </summary>
    public static void MomentumStep<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, T mu, T rate, T decay, bool decayed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.Length != w.Length || v.Length != w.Length) throw new ArgumentException("MomentumStep: w, g and v must be equally long");
        var work = new MomentumWork<T> { W = w, G = g, V = v, Mu = mu, Rate = rate, Decay = decay, Decayed = decayed, Parts = Parallelism.ElementParts(w.Length) };
        Parallelism.For(work.Parts, ref work);
    }

    private ref struct MomentumWork<T> : IPartitionedWork
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> W, V;
        public ReadOnlySpan<T> G;
        public T Mu, Rate, Decay;
        public bool Decayed;
        public int Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(W.Length, Parts, partition);
            Span<T> w = W.Slice(start, count), v = V.Slice(start, count);
            ReadOnlySpan<T> g = G.Slice(start, count);
            int i = 0;
            if (Accelerated<T>()) i = MomentumVector(w, g, v, Mu, Rate, Decay, Decayed);
            MomentumStepReference(w[i..], g[i..], v[i..], Mu, Rate, Decay, Decayed);
        }
    }

    /// <summary>The plain loop <see cref="MomentumStep{T}"/> is held to.</summary>
    public static void MomentumStepReference<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, T mu, T rate, T decay, bool decayed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < w.Length; i++)
        {
            T gi = g[i];
            if (decayed)
            {
                T product = w[i] * decay;
                gi = product + gi;
            }
            T kept = v[i] * mu;
            T vi = kept + gi;
            v[i] = vi;
            T change = vi * rate;
            w[i] = change + w[i];
        }
    }

    private static int MomentumVector<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> v, T mu, T rate, T decay, bool decayed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = Vector<T>.Count, end = w.Length - w.Length % count;
        ref T wr = ref MemoryMarshal.GetReference(w), gr = ref MemoryMarshal.GetReference(g), vr = ref MemoryMarshal.GetReference(v);
        Vector<T> m = new(mu), r = new(rate), l = new(decay);
        for (nuint i = 0; i < (nuint)end; i += (nuint)count)
        {
            Vector<T> wi = Vector.LoadUnsafe(ref wr, i), gi = Vector.LoadUnsafe(ref gr, i);
            if (decayed) gi = wi * l + gi;
            Vector<T> vi = Vector.LoadUnsafe(ref vr, i) * m + gi;
            vi.StoreUnsafe(ref vr, i);
            (vi * r + wi).StoreUnsafe(ref wr, i);
        }
        return end;
    }

    /// <summary>dx = x &gt; 0 ? dy : 0, element by element.</summary>
    public static void ReluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int length = dx.Length;
        if (x.Length < length || dy.Length < length) throw new ArgumentException("ReluBackward: x and dy must be as long as dx");
        int i = 0;
        if (Accelerated<T>()) i = ReluBackwardVector(x, dy, dx);
        ReluBackwardReference(x[i..length], dy[i..length], dx[i..]);
    }

    /// <summary>The plain loop <see cref="ReluBackward{T}"/> is held to.</summary>
    public static void ReluBackwardReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < dx.Length; i++) dx[i] = x[i] > T.Zero ? dy[i] : T.Zero;
    }

    private static int ReluBackwardVector<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = Vector<T>.Count, end = dx.Length - dx.Length % count;
        ref T xr = ref MemoryMarshal.GetReference(x), dyr = ref MemoryMarshal.GetReference(dy), dxr = ref MemoryMarshal.GetReference(dx);
        for (nuint i = 0; i < (nuint)end; i += (nuint)count)
        {
            Vector<T> positive = Vector.GreaterThan(Vector.LoadUnsafe(ref xr, i), Vector<T>.Zero);
            Vector.BitwiseAnd(Vector.LoadUnsafe(ref dyr, i), positive).StoreUnsafe(ref dxr, i);
        }
        return end;
    }

    /// <summary>Sets every value of <paramref name="values"/> to zero, large arrays in ranges on several threads.</summary>
    public static void Clear<T>(Span<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var work = new ClearWork<T> { Values = values, Parts = Parallelism.ElementParts(values.Length / 4) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <summary>Copies <paramref name="source"/> into the start of <paramref name="destination"/>, large spans in ranges on several threads.</summary>
    public static void Copy<T>(ReadOnlySpan<T> source, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (destination.Length < source.Length) throw new ArgumentException("Copy: the destination is shorter than the source");
        var work = new CopyWork<T> { Source = source, Destination = destination, Parts = Parallelism.ElementParts(source.Length / 4) };
        Parallelism.For(work.Parts, ref work);
    }

    private ref struct CopyWork<T> : IPartitionedWork
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public ReadOnlySpan<T> Source;
        public Span<T> Destination;
        public int Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Source.Length, Parts, partition);
            Source.Slice(start, count).CopyTo(Destination.Slice(start, count));
        }
    }

    private ref struct ClearWork<T> : IPartitionedWork
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> Values;
        public int Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Values.Length, Parts, partition);
            Values.Slice(start, count).Clear();
        }
    }
}
