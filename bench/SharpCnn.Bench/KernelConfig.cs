using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SharpCnn.Kernels;

namespace SharpCnn.Bench;

/// <summary>A benchmark that knows how many floating-point operations one invocation does.</summary>
public interface IFlopCount
{
    /// <summary>Flops of one benchmark invocation, once the parameters are set and the global setup has run.</summary>
    double Flops { get; }
}

/// <summary>Adds GFLOP/s and fraction of the measured FMA peak (PeakFlops, one thread) to the summary table.</summary>
public sealed class KernelConfig : ManualConfig
{
    public KernelConfig()
    {
        AddColumn(new FlopsColumn(fractionOfPeak: false), new FlopsColumn(fractionOfPeak: true));
    }
}

/// <summary>GFLOP/s of a benchmark case from its mean time, or that as a fraction of the measured one-thread peak.</summary>
internal sealed class FlopsColumn(bool fractionOfPeak) : IColumn
{
    private static readonly Lazy<double> Peak = new(() => PeakFlops.Measure(1));

    public string Id => fractionOfPeak ? "PeakFraction" : "GFlops";
    public string ColumnName => fractionOfPeak ? "of peak" : "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => fractionOfPeak ? 1 : 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => fractionOfPeak
        ? "GFLOP/s divided by the one-thread FMA peak measured by a register-only loop (PeakFlops)"
        : "Floating-point operations per second (a multiply-add counts 2)";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        double? nanoseconds = report?.ResultStatistics?.Mean;
        if (nanoseconds is null || nanoseconds <= 0) return "-";
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IFlopCount instance) return "-";
        foreach (var parameter in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetProperty(parameter.Name)?.SetValue(instance, parameter.Value);
        benchmarkCase.Descriptor.GlobalSetupMethod?.Invoke(instance, null);
        double gflops = instance.Flops / nanoseconds.Value;
        return fractionOfPeak ? $"{gflops / Peak.Value:P0}" : $"{gflops:F1}";
    }
}
