-- window forms as in DataRecce/jaffle-shop-expand: navigation, ranking, running totals
with events as (
    select * from {{ ref('events') }}
)
select
    id,
    lag(amount) over (partition by user_id order by happened_at) as prev_amount,
    row_number() over (partition by user_id order by happened_at) as event_number,
    sum(amount) over (partition by user_id order by happened_at) as running_amount
from events
