using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SharpCnn.Data;
using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Training;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary>
/// <c>sharpcnn bench</c>: speed of a model (by default the seed CNN) on this machine: training samples/s at
/// batch 64 and 1, inference samples/s at batch 256, 1- vs N-thread scaling, bytes allocated per training step,
/// whether 1 and N threads give bit-identical weights, and peak RSS. With <c>--epoch-data DIR</c> it instead
/// trains one full epoch on that IDX folder and reports its throughput and peak RSS.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Every measure, in the order printed.</summary>
    internal static readonly string[] Measures = ["train64", "train1", "infer256", "infer1", "scaling", "alloc", "identical"];

    public static Command Create()
    {
        var threads = ThreadsOption.Create();
        var model = new Option<string>("--model") { Description = "A preset or spec string", DefaultValueFactory = _ => "seed-cnn" };
        var precision = CommonOptions.Precision();
        var seconds = new Option<double>("--seconds") { Description = "Seconds per timing round", DefaultValueFactory = _ => 2.0 };
        var rounds = new Option<int>("--rounds") { Description = "Timing rounds per measure (the best is reported)", DefaultValueFactory = _ => 3 };
        var only = new Option<string>("--only") { Description = $"Comma-separated measures to run: {string.Join(", ", Measures)}", DefaultValueFactory = _ => string.Join(",", Measures) };
        var tsv = new Option<bool>("--tsv") { Description = "Print machine-readable lines: measure<TAB>value<TAB>unit" };
        var epochData = new Option<string?>("--epoch-data") { Description = "Instead: train one full epoch (batch --batch, 64 unless set) on this IDX folder and report samples/s and peak RSS" };
        var optimizer = new Option<string>("--optimizer")
        {
            Description = "The training measures' optimiser, to compare like with like: adam (learning rate 0.001), sgd (plain, learning rate 0.01, no momentum: the seeds' mode) or momentum (0.9, learning rate 0.05, weight decay 5e-4: the Fashion-MNIST recipe's)",
            DefaultValueFactory = _ => "adam",
        };
        optimizer.AcceptOnlyFromAmong("adam", "sgd", "momentum");
        var batch = new Option<int>("--batch") { Description = "The batch of the train64 measure (and of scaling and --epoch-data), e.g. 128 for the Fashion-MNIST recipe", DefaultValueFactory = _ => 64 };
        var command = new Command("bench", "Measure training and inference speed, thread scaling, allocation and determinism")
        {
            threads, model, precision, seconds, rounds, only, tsv, epochData, optimizer, batch,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            int n = ThreadsOption.Apply(r.GetValue(threads));
            var choice = ModelChoice.Resolve(r.GetValue(model)!, null, null);
            var selected = r.GetValue(only)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var m in selected)
                if (!Measures.Contains(m)) throw new ArgumentException($"--only: unknown measure '{m}'; expected some of {string.Join(", ", Measures)}");
            if (r.GetValue(seconds) <= 0 || r.GetValue(rounds) < 1) throw new ArgumentException("--seconds must be positive and --rounds at least 1");
            if (r.GetValue(batch) is < 1 or > 4096) throw new ArgumentException($"--batch must be 1 to 4096, got {r.GetValue(batch)}");
            var run = new Run(choice, n, r.GetValue(seconds), r.GetValue(rounds), selected, r.GetValue(tsv), r.GetValue(epochData), r.InvocationConfiguration.Output)
            {
                Optimizer = r.GetValue(optimizer)!,
                Batch = r.GetValue(batch),
            };
            return PrecisionOption.Dispatch(r.GetValue(precision)!, run);
        }));
        return command;
    }

    private sealed record Run(ModelChoice Choice, int Threads, double Seconds, int Rounds, string[] Selected, bool Tsv, string? EpochData, TextWriter Output)
        : IPrecisionAction
    {
        /// <summary>"adam", "sgd" or "momentum".</summary>
        public string Optimizer { get; init; } = "adam";

        /// <summary>The batch of the train64 and scaling measures (64 unless set).</summary>
        public int Batch { get; init; } = 64;

        private string OptimizerText => Optimizer switch
        {
            "sgd" => "plain SGD lr 0.01",
            "momentum" => "SGD momentum 0.9 lr 0.05 weight decay 5e-4",
            _ => "Adam lr 0.001",
        };

        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (EpochData is not null) return Epoch<T>(EpochData);
            var (train, _) = BundledDigits.Load();
            var steps = new StepRunner<T>(Choice, train, seed: 1, Optimizer, Math.Max(64, Batch));
            long trainFlops = steps.TrainingFlopsPerSample, executedFlops = steps.Network.TrainingFlops;
            if (!Tsv)
            {
                Output.WriteLine($"model     {Choice.Label}: {steps.Network.Spec}");
                Output.WriteLine($"          {steps.Network.ForwardFlops / 1e6:F1} MFLOP forward, ~{trainFlops / 1e6:F1} MFLOP per training sample{(executedFlops == trainFlops ? "" : $" ({executedFlops / 1e6:F1} executed: Winograd)")}; {Precisions.Of<T>().TypeName()}, {OptimizerText} without the divergence guard, bundled digits");
                Output.WriteLine($"machine   {Environment.ProcessorCount} processors, {PeakFlops.VectorName}, {Threads} thread(s); each figure is the best of {Rounds} rounds of {Seconds:G3} s");
            }
            double peak = 0;
            double trainN = double.NaN;
            if (Selected.Contains("train64") || Selected.Contains("scaling"))
            {
                peak = PeakFlops.Measure(Threads);
                Report("peak_gflops", peak, "GFLOP/s", $"measured FMA peak, {Threads} thread(s)");
            }
            double trainOne = double.NaN;
            (double AtBest, double Least, double Most) roundTrip = (double.NaN, double.NaN, double.NaN);
            if (Selected.Contains("train64") || Selected.Contains("scaling"))
            {
                // With the scaling measure, the N-thread and 1-thread rounds alternate, so a slower or faster spell of a shared
                // machine falls on both counts alike instead of on one of them; the best round of each is reported.
                if (Selected.Contains("scaling"))
                    (trainN, trainOne, roundTrip.AtBest, roundTrip.Least, roundTrip.Most) = steps.TrainingScaling(Batch, Seconds, Rounds, Threads);
                else trainN = steps.TrainingSamplesPerSecond(Batch, Seconds, Rounds);
                // Two rates: the definition's count (3x the forward flops of direct convolution, the figure that compares
                // across engines and algorithms) and what the kernels execute (Winograd's convolutions do fewer
                // multiply-adds for the same outputs: Layer.TrainingFlops). Only the executed rate is bounded by the peak.
                double gflops = trainN * trainFlops / 1e9, executed = trainN * executedFlops / 1e9;
                string rates = executedFlops == trainFlops
                    ? $"{gflops:F1} GFLOP/s, {executed / peak:P0} of peak"
                    : $"{gflops:F1} GFLOP/s counted as direct convolution, {executed:F1} GFLOP/s executed (Winograd), {executed / peak:P0} of peak";
                Report($"train_b{Batch}", trainN, "samples/s", $"training, batch {Batch}, {Threads} thread(s), {OptimizerText}: {rates}");
                // The peak is a ceiling: a kernel above it means the peak loop measured less than the cores can do. A
                // thread descheduled during the short peak rounds (a shared machine) does that too, so the peak is
                // measured again, for longer, before the figures are refused.
                if (executed > peak)
                {
                    peak = Math.Max(peak, PeakFlops.Measure(Threads, seconds: 1.5));
                    Report("peak_gflops", peak, "GFLOP/s", $"measured FMA peak, {Threads} thread(s), measured again (training was above the first measurement)");
                }
                if (executed > peak)
                    throw new InvalidOperationException($"training executed {executed:F1} GFLOP/s, above the measured FMA peak of {peak:F1} GFLOP/s: the peak measurement is wrong on this CPU ({PeakFlops.VectorName}); the figures are not reported as a fraction of it");
            }
            if (Selected.Contains("train1"))
                Report("train_b1", steps.TrainingSamplesPerSecond(1, Seconds, Rounds), "samples/s", $"training, batch 1, {Threads} thread(s), {OptimizerText}");
            if (Selected.Contains("infer256"))
                Report("infer_b256", steps.InferenceSamplesPerSecond(256, Seconds, Rounds), "samples/s", $"inference, batch 256, {Threads} thread(s)");
            if (Selected.Contains("infer1"))
                Report("infer_b1", steps.InferenceSamplesPerSecond(1, Seconds, Rounds), "samples/s", $"inference, batch 1, {Threads} thread(s)");
            if (Selected.Contains("scaling"))
            {
                Report($"train_b{Batch}_1thread", trainOne, "samples/s", $"training, batch {Batch}, 1 thread (rounds alternating with the {Threads}-thread ones)");
                Report("scaling", trainN / trainOne, "x", $"speed-up from 1 to {Threads} thread(s) (training, batch {Batch}; best round of each, the rounds alternating)");
                // Where the host put the cores: a virtual machine's two cores may sit on one chip or on two, and move while it runs.
                if (double.IsNaN(roundTrip.AtBest))
                    Output.WriteLine(Tsv ? "core_round_trip_ns\tNaN\tns" : $"{"-",18}  core round trip not measured (one processor, or the second thread never ran beside the first)");
                else
                    Report("core_round_trip_ns", roundTrip.AtBest, "ns", $"round trip of a cache line between two threads' cores, just before the best {Threads}-thread round ({roundTrip.Least:F0}-{roundTrip.Most:F0} ns over the rounds; well above 100 ns, the cores do not share an L3 and what one thread writes reaches the other slowly)");
            }
            if (Selected.Contains("alloc"))
                Report("alloc_per_step", steps.AllocatedBytesPerStep(64, 20), "bytes", "allocated per training step (batch 64, all threads, after warm-up)");
            if (Selected.Contains("identical"))
            {
                bool same = BitIdentical<T>(Choice, train, Threads);
                Report("identical", same ? 1 : 0, "bool", $"1- and {Threads}-thread training (20 steps, batch 64) give bit-identical weights: {(same ? "yes" : "NO")}");
            }
            Report("peak_rss", PeakResidentBytes() / 1048576.0, "MiB", "peak resident memory of this process (all of the above; --epoch-data measures one training epoch alone)");
            return 0;
        }

        private int Epoch<T>(string folder) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var train = MnistFolder.LoadTrainingSet(folder); // the training set only, as bench/pytorch_seed_cnn.py loads
            var steps = new StepRunner<T>(Choice, train, seed: 1, Optimizer, Batch);
            var clock = Stopwatch.StartNew();
            int samples = steps.Epoch();
            double rate = samples / clock.Elapsed.TotalSeconds;
            Report("epoch_samples", samples, "samples", $"one epoch of {folder}, batch {Batch}, {OptimizerText}, {Threads} thread(s)");
            Report("epoch_steps", (samples + Batch - 1) / Batch, "steps", $"training steps of {Batch} samples (the last one shorter when {Batch} does not divide {samples})");
            Report("epoch_rate", rate, "samples/s", "training throughput over the epoch");
            Report("peak_rss", PeakResidentBytes() / 1048576.0, "MiB", "peak resident memory of this process");
            return 0;
        }

        private void Report(string key, double value, string unit, string text)
        {
            if (Tsv)
            {
                Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{key}\t{value:R}\t{unit}"));
                return;
            }
            string shown = unit switch
            {
                "bool" => "",
                "x" => $"{value:F2}x",
                "bytes" => $"{value:N0} bytes",
                "MiB" => $"{value:F0} MiB",
                "samples" => $"{value:N0}",
                "GFLOP/s" => $"{value:F1} GFLOP/s",
                _ => $"{value:F0} {unit}",
            };
            Output.WriteLine($"{shown,18}  {text}");
        }
    }

    /// <summary>Peak resident set size of this process (VmHWM on Linux, the peak working set elsewhere).</summary>
    internal static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    /// <summary>Trains <paramref name="steps"/> steps from the same seed on 1 thread and on <paramref name="threads"/>, compares every weight bit.</summary>
    private static bool BitIdentical<T>(ModelChoice choice, ImageDataSet train, int threads, int steps = 20)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[][] Weights(int count)
        {
            Parallelism.ThreadCount = count;
            var runner = new StepRunner<T>(choice, train, seed: 3);
            for (int i = 0; i < steps; i++) runner.TrainStep(64);
            return runner.Network.Parameters.Select(p => (T[])p.Value.Clone()).ToArray();
        }
        var one = Weights(1);
        var many = Weights(threads);
        Parallelism.ThreadCount = threads;
        return one.Zip(many).All(pair => pair.First.AsSpan().SequenceEqual(pair.Second));
    }

    /// <summary>
    /// A network, its optimiser (Adam with learning rate 0.001, plain SGD with 0.01, or momentum 0.9 with 0.05 and weight decay 5e-4) and a data set: training steps are the trainer's own
    /// (<see cref="TrainingStep{T}"/>) without its divergence guard, so the figures measure the arithmetic as
    /// they always have (and as PyTorch, which has no guard, is measured); inference runs through
    /// <see cref="Inference{T}"/>; both on batches taken in turn from one shuffled order of the samples.
    /// </summary>
    private sealed class StepRunner<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ImageDataSet data;
        private readonly TrainingStep<T> step;
        private readonly int[] order;
        private int position;

        public StepRunner(ModelChoice choice, ImageDataSet data, ulong seed, string optimizer = "adam", int batch = 64)
        {
            this.data = data;
            Network = choice.Create<T>(data.Shape, seed);
            var options = optimizer switch
            {
                "sgd" => new TrainingOptions { Optimizer = "sgd", LearningRate = 0.01, Momentum = 0, BatchSize = batch, Seed = seed },
                "momentum" => new TrainingOptions { Optimizer = "momentum", LearningRate = 0.05, Momentum = 0.9, WeightDecay = 5e-4, BatchSize = batch, Seed = seed },
                _ => new TrainingOptions { Optimizer = optimizer, LearningRate = 0.001, Momentum = 0, BatchSize = batch, Seed = seed },
            };
            step = new TrainingStep<T>(Network, options.CreateOptimizer(Network.Parameters), options, data.Count) { Guarded = false };
            order = Enumerable.Range(0, data.Count).ToArray();
            new Rng(seed).Shuffle(order);
        }

        public Network<T> Network { get; }

        /// <summary>Forward + backward flops per training sample: every layer's forward three times (forward, input and parameter gradient) less the first layer's unneeded input gradient.</summary>
        public long TrainingFlopsPerSample => 3 * Network.ForwardFlops - Network.Layers[0].ForwardFlops;

        private ReadOnlySpan<int> NextBatch(int n)
        {
            if (position + n > order.Length) position = 0;
            var batch = order.AsSpan(position, n);
            position += n;
            return batch;
        }

        public void TrainStep(int n) => Train(NextBatch(n));

        private void Train(ReadOnlySpan<int> batch) => step.Run(data, batch);

        /// <summary>Trains one pass over the data; returns the samples seen.</summary>
        public int Epoch()
        {
            Network.Training = true;
            position = 0;
            int seen = 0;
            for (int start = 0; start < order.Length; start += step.BatchSize)
            {
                int count = Math.Min(step.BatchSize, order.Length - start);
                Train(order.AsSpan(start, count));
                seen += count;
            }
            return seen;
        }

        public double TrainingSamplesPerSecond(int n, double seconds, int rounds)
        {
            Network.Training = true;
            return Best(n, seconds, rounds, () => TrainStep(n));
        }

        /// <summary>
        /// The best <paramref name="threads"/>-thread and 1-thread rates of alternating rounds, and the cores' round trip
        /// (<see cref="CoreRoundTrip"/>) measured just before each <paramref name="threads"/>-thread round: before the best one, and
        /// the least and most of all. Each count gets a warm-up first. Leaves <see cref="Parallelism.ThreadCount"/> at <paramref name="threads"/>.
        /// </summary>
        public (double Many, double One, double RoundTripAtBest, double RoundTripLeast, double RoundTripMost) TrainingScaling(int n, double seconds, int rounds, int threads)
        {
            Network.Training = true;
            double many = 0, one = 0, atBest = double.NaN, least = double.PositiveInfinity, most = double.NegativeInfinity;
            try
            {
                foreach (int count in new[] { threads, 1 })
                {
                    Parallelism.ThreadCount = count;
                    WarmUp(seconds, () => TrainStep(n));
                }
                for (int r = 0; r < rounds; r++)
                {
                    double roundTrip = CoreRoundTrip.Measure(exchanges: 2000, bursts: 3);
                    if (!double.IsNaN(roundTrip)) (least, most) = (Math.Min(least, roundTrip), Math.Max(most, roundTrip));
                    Parallelism.ThreadCount = threads;
                    double rate = Round(n, seconds, () => TrainStep(n));
                    if (rate > many) (many, atBest) = (rate, roundTrip);
                    Parallelism.ThreadCount = 1;
                    one = Math.Max(one, Round(n, seconds, () => TrainStep(n)));
                }
            }
            finally
            {
                Parallelism.ThreadCount = threads;
            }
            return (many, one, atBest, least, most);
        }

        public double InferenceSamplesPerSecond(int n, double seconds, int rounds)
        {
            using var inference = new Inference<T>(Network, n);
            return Best(n, seconds, rounds, () => inference.Run(data, NextBatch(n)));
        }

        /// <summary>
        /// Bytes allocated per step by every thread of the process, the fewest of three rounds of <paramref name="steps"/>
        /// steps: the runtime's own occasional work (tiered compilation on a busy machine) lands in one round, not in all.
        /// </summary>
        public double AllocatedBytesPerStep(int n, int steps)
        {
            Network.Training = true;
            for (int i = 0; i < 5; i++) TrainStep(n);
            double fewest = double.MaxValue;
            for (int round = 0; round < 3; round++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < steps; i++) TrainStep(n);
                fewest = Math.Min(fewest, (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)steps);
            }
            return fewest;
        }

        /// <summary>Best samples/s over <paramref name="rounds"/> rounds of at least <paramref name="seconds"/> each, after a warm-up.</summary>
        private static double Best(int n, double seconds, int rounds, Action step)
        {
            WarmUp(seconds, step);
            double best = 0;
            for (int r = 0; r < rounds; r++) best = Math.Max(best, Round(n, seconds, step));
            return best;
        }

        /// <summary>At least 3 steps and at least min(1 s, half a round).</summary>
        private static void WarmUp(double seconds, Action step)
        {
            var warm = Stopwatch.StartNew();
            for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < Math.Min(1.0, seconds / 2); i++) step();
        }

        /// <summary>Samples/s of one round: steps of <paramref name="n"/> samples until <paramref name="seconds"/> have passed.</summary>
        private static double Round(int n, double seconds, Action step)
        {
            int count = 0;
            var clock = Stopwatch.StartNew();
            do
            {
                step();
                count++;
            } while (clock.Elapsed.TotalSeconds < seconds);
            return count * n / clock.Elapsed.TotalSeconds;
        }
    }
}
