namespace SharpCnn.Tensors;

/// <summary>
/// One tensor of a layer (a weight, a bias, a subsampling beta, a batch-norm running
/// mean) with its gradient. Backward passes add into <see cref="Gradient"/>; the trainer
/// zeroes it before each step. The optimiser reads <see cref="Gradient"/> and updates
/// <see cref="Value"/>, except for <see cref="ParameterRole.State"/> tensors, which the
/// layer itself updates in its training-mode forward pass and which are saved with the
/// model like every other parameter.
/// </summary>
public sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a zero-filled parameter.</summary>
    /// <param name="name">Short name within its layer: weight, bias, beta.</param>
    /// <param name="shape">Dimensions, outermost first (a conv weight is [Cout, Cin, kh, kw]).</param>
    /// <param name="role">Whether it multiplies its input (weights, beta), is added (bias) or is non-trained state (running statistics); decides initialisation and whether optimisers touch it.</param>
    /// <param name="mask">Optional: false marks an element that is structurally zero (not connected) and never trained.</param>
    public Parameter(string name, int[] shape, ParameterRole role, bool[]? mask = null)
    {
        Name = name;
        Shape = shape;
        Role = role;
        long length = 1;
        foreach (int d in shape)
        {
            if (d <= 0) throw new ArgumentException($"parameter {name}: every dimension must be positive, got [{string.Join(", ", shape)}]");
            length = length > long.MaxValue / d ? long.MaxValue : length * d; // a plan may describe more than memory holds
        }
        PlannedLength = length;
        if (ParameterBudget.Planning)
        {
            // A plan of the network (MemoryEstimate): the size is all that is wanted, and it may be more than an array holds.
            Value = Gradient = [];
            TrainableCount = role == ParameterRole.State ? 0 : (int)Math.Min(length, int.MaxValue);
            return;
        }
        if (length > Array.MaxLength) throw new ArgumentException($"parameter {name}: {length} elements is too many");
        ParameterBudget.Take(length, $"{name}[{string.Join("x", shape)}]");
        Value = new T[length];
        Gradient = new T[length];
        if (mask is not null && mask.Length != length) throw new ArgumentException($"parameter {name}: mask has {mask.Length} elements, expected {length}");
        Mask = mask;
        TrainableCount = role == ParameterRole.State ? 0 : mask is null ? (int)length : mask.Count(m => m);
    }

    /// <summary>Number of elements the shape asks for (equal to <see cref="Length"/> except in a plan, where nothing is allocated).</summary>
    internal long PlannedLength { get; }

    /// <summary>Short name within its layer.</summary>
    public string Name { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public int[] Shape { get; }

    /// <summary>Multiplicative (weight-like), additive (bias-like) or non-trained state.</summary>
    public ParameterRole Role { get; }

    /// <summary>The values, row-major.</summary>
    public T[] Value { get; }

    /// <summary>The accumulated gradient of the loss with respect to <see cref="Value"/>.</summary>
    public T[] Gradient { get; }

    /// <summary>Structural mask (connection table), or null when every element is trainable.</summary>
    public bool[]? Mask { get; }

    /// <summary>Number of elements that are trained (all, or the connected ones of a mask; none for <see cref="ParameterRole.State"/>).</summary>
    public int TrainableCount { get; }

    /// <summary>Number of elements, trained or not.</summary>
    public int Length => Value.Length;

    /// <summary>Fan-in of one output unit (inputs feeding it), used by the initialisers.</summary>
    public int FanIn { get; init; } = 1;

    /// <summary>Fan-out of one input unit, used by Xavier/Glorot initialisation.</summary>
    public int FanOut { get; init; } = 1;

    /// <summary>
    /// When set, every initialiser fills the parameter with this constant instead of drawing
    /// it (batch norm: γ = 1, β = 0, running mean 0, running variance 1), whatever the scheme.
    /// </summary>
    public double? InitialValue { get; init; }

    /// <summary>
    /// Set for the current training step when the layer applies plain SGD's update to this parameter itself
    /// (during its backward pass, or right after the divergence guard) instead of writing <see cref="Gradient"/>:
    /// the optimiser skips it and the guard reads <see cref="FusedGradientMagnitude"/>. Cleared after the step.
    /// </summary>
    internal bool Fused { get; set; }

    /// <summary>With <see cref="Fused"/>: max |g| of the gradient the layer did not write (computed exactly from its factors).</summary>
    internal double FusedGradientMagnitude { get; set; }

    /// <summary>
    /// Whether its layer's backward pass can write <see cref="Gradient"/> whole instead of adding to it (a dense layer's
    /// weight: its gradient is one product over the batch, and adding it to a gradient just cleared would read and
    /// write the whole gradient once more). Lets the training step leave such a gradient uncleared (<see cref="Uncleared"/>).
    /// </summary>
    internal bool WrittenWholeByBackward { get; init; }

    /// <summary>
    /// Set by the training step's clearing (Network.ClearGradients with deferral) instead of clearing a gradient that
    /// <see cref="WrittenWholeByBackward"/>: the gradient still holds old values and counts as zero. The layer's next
    /// backward pass takes the mark (<see cref="TakeUncleared"/>) and writes the gradient instead of adding to it; a
    /// step that stops before its backward pass clears what is left marked (Network.FinishClearing).
    /// </summary>
    internal bool Uncleared { get; set; }

    /// <summary>Whether the gradient counts as zero without being cleared (<see cref="Uncleared"/>); clears the mark.</summary>
    internal bool TakeUncleared()
    {
        bool uncleared = Uncleared;
        Uncleared = false;
        return uncleared;
    }

    /// <summary>True when an optimiser updates this parameter (every role but <see cref="ParameterRole.State"/>).</summary>
    public bool IsTrained => Role != ParameterRole.State;

    /// <summary>Sets every element whose mask is false to zero (values and gradients).</summary>
    public void ApplyMask()
    {
        if (Mask is null) return;
        for (int i = 0; i < Mask.Length; i++)
        {
            if (!Mask[i])
            {
                Value[i] = T.Zero;
                Gradient[i] = T.Zero;
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}[{string.Join("x", Shape)}]";
}

/// <summary>How a parameter enters its layer; initialisers, optimisers and weight decay treat the roles differently.</summary>
public enum ParameterRole
{
    /// <summary>Multiplies the input (conv and dense weights, subsampling beta).</summary>
    Weight,

    /// <summary>Added to the output (biases, batch-norm β).</summary>
    Bias,

    /// <summary>
    /// Not trained: state the layer keeps and updates itself (batch norm's running mean and
    /// variance). Optimisers, weight decay and gradient checks skip it, parameter counts do
    /// not count it, initialisers set it to its <see cref="Parameter{T}.InitialValue"/>, and
    /// model files and checkpoints save it like any parameter.
    /// </summary>
    State,
}
