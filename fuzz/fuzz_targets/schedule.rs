//! The socket schedule both connection targets (`conn`, `websocket`) read from the front
//! of their input: see their module docs.

/// Splits the input into read sizes, write sizes and the bytes the client sends. At most 8
/// sizes each; a schedule of only zeros would never progress, so one non-zero size is added.
pub fn split(data: &[u8]) -> (Vec<usize>, Vec<usize>, &[u8]) {
    let [0xFF, reads, writes, rest @ ..] = data else {
        return (Vec::new(), Vec::new(), data);
    };
    let reads = usize::from(reads % 9);
    let writes = usize::from(writes % 9);
    if rest.len() < reads + writes {
        return (Vec::new(), Vec::new(), rest);
    }
    let sizes = |bytes: &[u8]| {
        let mut sizes: Vec<usize> = bytes.iter().map(|&b| usize::from(b)).collect();
        if !sizes.is_empty() && sizes.iter().all(|&s| s == 0) {
            sizes.push(1);
        }
        sizes
    };
    let read_sizes = sizes(&rest[..reads]);
    let write_sizes = sizes(&rest[reads..reads + writes]);
    (read_sizes, write_sizes, &rest[reads + writes..])
}
