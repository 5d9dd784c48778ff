-- unaliased expressions: DuckDB names them by their text, sqlglot `_col_N`
with marked as (
    select
        id,
        'completed',
        case when amount > 0 then amount else 0 end
    from {{ ref('events') }}
)
select * from marked
