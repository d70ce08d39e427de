// The machine's measured floating-point peak: what "fraction of peak" in the benchmarks divides by.
//
// A register-only loop of independent fused multiply-adds on the widest accelerated float vector:
// 12 accumulators (more than the FMA latency x pipes of any current core: 4 cycles x 2 pipes = 8
// chains in flight) and the two operands, 14 registers: they fit in AVX2's 16 (16 accumulators did
// not, and the two the JIT then kept on the stack halved the AVX2 figure on an AMD EPYC with AVX-512),
// no loads or stores inside the loop, so nothing but the FMA units limits it.
// Each FMA on a register of L float lanes is 2L flops. With several threads, each runs the same
// loop on its own core at the same time and the flops are added up.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>Measures the peak float multiply-add rate of this machine with a register-only loop.</summary>
public static class PeakFlops
{
    /// <summary>
    /// Float GFLOP/s reached by <paramref name="threads"/> threads each running the register-only FMA
    /// loop for about <paramref name="seconds"/> seconds (best of six rounds, the threads started together).
    /// </summary>
    public static double Measure(int threads = 1, double seconds = 0.3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        RunLoop(1000); // compile and warm up
        double best = 0;
        // Six short rounds, best kept: on a shared or virtual machine a thread is now and then descheduled for part of
        // a round (one such round measured half the two-thread peak), and the best round is the one where it was not.
        const int Rounds = 6;
        for (int round = 0; round < Rounds; round++)
        {
            long iterations = Math.Max(1000, (long)(seconds / Rounds * 2e8));
            var workers = new Thread[threads];
            using var ready = new CountdownEvent(threads);
            using var go = new ManualResetEventSlim();
            for (int t = 0; t < threads; t++)
            {
                workers[t] = new Thread(() => { ready.Signal(); go.Wait(); RunLoop(iterations); }) { IsBackground = true };
                workers[t].Start();
            }
            ready.Wait(); // every thread exists and waits: starting threads is not timed
            var clock = Stopwatch.StartNew();
            go.Set();
            foreach (var w in workers) w.Join();
            double elapsed = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, threads * iterations * FlopsPerIteration / elapsed / 1e9);
        }
        return best;
    }

    /// <summary>Flops of one loop iteration: 12 FMAs on the widest accelerated float register.</summary>
    public static int FlopsPerIteration => Chains * 2 * Lanes;

    /// <summary>Independent FMA chains of the loop: enough to fill every core's FMA pipes, few enough to stay in 16 registers with the operands.</summary>
    private const int Chains = 12;

    /// <summary>Float lanes of the widest accelerated vector (1 when there is none).</summary>
    public static int Lanes => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 1;

    /// <summary>The name of the widest accelerated vector width.</summary>
    public static string VectorName => Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";

    private static float RunLoop(long iterations)
    {
        if (Vector512.IsHardwareAccelerated) return Loop<Vector512<float>, Width512<float>>(iterations);
        if (Vector256.IsHardwareAccelerated) return Loop<Vector256<float>, Width256<float>>(iterations);
        if (Vector128.IsHardwareAccelerated) return Loop<Vector128<float>, Width128<float>>(iterations);
        return Loop<float, WidthScalar<float>>(iterations);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Loop<TVector, TWidth>(long iterations)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, float>
    {
        TVector a = TWidth.Broadcast(0.999999f), b = TWidth.Broadcast(1e-7f);
        TVector c0 = TWidth.Broadcast(1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        TVector c8 = c0, c9 = c0, c10 = c0, c11 = c0; // Chains of them
        for (long i = 0; i < iterations; i++)
        {
            c0 = TWidth.MultiplyAddEstimate(c0, a, b); c1 = TWidth.MultiplyAddEstimate(c1, a, b);
            c2 = TWidth.MultiplyAddEstimate(c2, a, b); c3 = TWidth.MultiplyAddEstimate(c3, a, b);
            c4 = TWidth.MultiplyAddEstimate(c4, a, b); c5 = TWidth.MultiplyAddEstimate(c5, a, b);
            c6 = TWidth.MultiplyAddEstimate(c6, a, b); c7 = TWidth.MultiplyAddEstimate(c7, a, b);
            c8 = TWidth.MultiplyAddEstimate(c8, a, b); c9 = TWidth.MultiplyAddEstimate(c9, a, b);
            c10 = TWidth.MultiplyAddEstimate(c10, a, b); c11 = TWidth.MultiplyAddEstimate(c11, a, b);
        }
        TVector sum = TWidth.Add(TWidth.Add(TWidth.Add(c0, c1), TWidth.Add(c2, c3)), TWidth.Add(TWidth.Add(c4, c5), TWidth.Add(c6, c7)));
        sum = TWidth.Add(sum, TWidth.Add(TWidth.Add(c8, c9), TWidth.Add(c10, c11)));
        float total = 0;
        Span<float> lanes = stackalloc float[TWidth.Count];
        TWidth.Store(sum, ref lanes[0]);
        foreach (float v in lanes) total += v;
        return total;
    }
}
