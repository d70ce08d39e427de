using SharpCnn.Layers;

namespace SharpCnn.Tensors;

/// <summary>
/// A limit on how many parameter values the networks built on this thread may allocate,
/// set by readers of untrusted files (model files, ONNX) around the building of the
/// network the file describes. A file lists its parameters and holds their values, so
/// a spec in it that would need more values than the file holds is a lie: the layer that
/// asks for them fails with <see cref="LayerShapeException"/> (the network names its
/// position) before anything is allocated, instead of allocating gigabytes first.
/// Outside a <see cref="Limit"/> scope there is no limit.
/// </summary>
internal static class ParameterBudget
{
    [ThreadStatic] private static long remaining;
    [ThreadStatic] private static string? source;
    [ThreadStatic] private static bool planning;

    /// <summary>
    /// True inside a <see cref="Plan"/> scope: parameters record their size but allocate nothing (see
    /// <see cref="Model.MemoryEstimate"/>, which builds layers this way to learn their sizes before anything is allocated).
    /// </summary>
    public static bool Planning => planning;

    /// <summary>Until disposed, parameters made on this thread are hollow: sized, not allocated.</summary>
    public static PlanScope Plan()
    {
        var scope = new PlanScope(planning);
        planning = true;
        return scope;
    }

    /// <summary>Ends a <see cref="Plan"/> scope.</summary>
    public readonly struct PlanScope(bool previous) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => planning = previous;
    }

    /// <summary>Allows <paramref name="values"/> parameter values, which <paramref name="holder"/> holds (e.g. "the model file"), until the scope is disposed.</summary>
    public static Scope Limit(long values, string holder)
    {
        var previous = new Scope(remaining, source);
        remaining = values;
        source = holder;
        return previous;
    }

    /// <summary>Takes <paramref name="values"/> from the budget (called before a parameter is allocated).</summary>
    /// <exception cref="LayerShapeException">More values than the budget has left.</exception>
    public static void Take(long values, string what)
    {
        Check(values, what);
        if (source is not null) remaining -= values;
    }

    /// <summary>Checks, without taking, that <paramref name="values"/> fit in what is left (for side arrays such as connection masks).</summary>
    /// <exception cref="LayerShapeException">More values than the budget has left.</exception>
    public static void Check(long values, string what)
    {
        if (source is not null && values > remaining)
            throw new LayerShapeException($"{what} needs {values} parameter values, but {source} holds only {Math.Max(remaining, 0)} more");
    }

    /// <summary>Restores the previous limit when disposed.</summary>
    public readonly struct Scope(long remaining, string? source) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose()
        {
            ParameterBudget.remaining = remaining;
            ParameterBudget.source = source;
        }
    }
}
