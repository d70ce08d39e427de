using System.Diagnostics;
using SharpCnn.Kernels;

namespace SharpCnn.Bench;

/// <summary>
/// The time of one Winograd filter transform (WinogradConvolution.Pack) of the seed CNN's second convolution (64 filters over
/// 32 maps, 5x5), for the forward pass and, flipped and transposed, for the input gradient: training does both on every step,
/// which at batch 1 is a large share of the step. Prints the best of 7 rounds of 200 transforms (each after one weight changed,
/// so none is skipped) and a hash of the packed values (the same before and after a change that must keep the bits).
/// </summary>
internal static class WinogradPackMeasure
{
    public static void Run(int threads)
    {
        Parallelism.ThreadCount = threads;
        foreach (bool flipped in new[] { false, true })
        {
            int cin = flipped ? 64 : 32, cout = flipped ? 32 : 64;
            var convolution = new WinogradConvolution<float>(cin, 14, 14, cout, 5, 2, 2, 2, 2, WinogradConvolution<float>.DefaultBlock, flipped);
            var weights = new float[cin * cout * 25];
            var rng = new Random(1);
            for (int i = 0; i < weights.Length; i++) weights[i] = (float)rng.NextDouble() - 0.5f;
            double best = double.MaxValue;
            for (int round = 0; round < 7; round++)
            {
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < 200; i++)
                {
                    weights[i] += 1e-3f;
                    convolution.Pack(weights);
                }
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds / 200);
            }
            uint hash = 0;
            foreach (float v in convolution.Packed) hash = hash * 31 + BitConverter.SingleToUInt32Bits(v);
            Console.WriteLine($"Winograd filter transform, {(flipped ? "input gradient (flipped)" : "forward")}, {threads} thread(s), {PeakFlops.VectorName}: {best * 1000:F1} µs, packed values' hash {hash:x8}");
        }
    }
}
